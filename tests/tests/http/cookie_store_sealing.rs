//! The cookie store's sealed sessions over real HTTP: an authentic cookie
//! that does not decode, what cannot be done without server-side state, the
//! absolute limit, flash, key rotation, and the room a sealed session needs.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::Mac as _;
use session_axum::{App, Auth, Binding, Session, SigningKeys};
use session_core::{
    ClientSide as _, CookieStore, ExpiryPolicy, InvalidDataPolicy, MockClock, SessionService,
    StoreError, TokenSigner,
};
use session_tests::http::TestServer;
use session_tests::profile::Counters;

use crate::app::{MIN, key, policy};

async fn set_flash(mut session: Session<Counters>) -> &'static str {
    session.flash("msg", "hello").unwrap();
    "ok"
}

async fn take_flash(mut session: Session<Counters>) -> String {
    session
        .take_flash::<String>("msg")
        .unwrap_or_else(|| "none".into())
}

async fn login_big(auth: Auth) -> &'static str {
    auth.login(Binding::user("ada").with_label("l".repeat(3500)));
    "ok"
}

struct Started {
    server: TestServer,
    clock: MockClock,
    service: SessionService,
}

async fn start_with(
    store: CookieStore,
    keys: SigningKeys,
    expiry: ExpiryPolicy,
    configure: impl FnOnce(session_axum::AppBuilder) -> session_axum::AppBuilder,
) -> Started {
    let clock = MockClock::starting_now();
    let builder = App::builder()
        .store(store)
        .keys(&keys)
        .secure(false)
        .cookie_name("sid")
        .expiry(expiry)
        .clock(Arc::new(clock.clone()))
        .merge(
            Router::new()
                .route("/x/flash", post(set_flash))
                .route("/x/take", get(take_flash))
                .route("/x/login-big", post(login_big)),
        );
    let app = configure(builder).build().unwrap();
    let service = app.service().clone();
    Started {
        server: TestServer::start(app.into_router()).await,
        clock,
        service,
    }
}

async fn start(store: CookieStore) -> Started {
    start_with(store, SigningKeys::single(key(1)), policy(), |b| b).await
}

/// A signed-store cookie carrying `plain` as its envelope, sealed as
/// `codec::seal` does (HMAC-SHA256 over the length-prefixed cookie name and
/// the payload), with key(1)'s secret.
fn signed_cookie(plain: &[u8], name: &str) -> String {
    let payload = format!("s1.{}", URL_SAFE_NO_PAD.encode(plain));
    let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(&[1u8; 32]).unwrap();
    mac.update(&(name.len() as u32).to_be_bytes());
    mac.update(name.as_bytes());
    mac.update(payload.as_bytes());
    let tag = mac.finalize().into_bytes();
    format!("{payload}.{}", URL_SAFE_NO_PAD.encode(tag))
}

/// An authentic cookie (valid tag) whose envelope this build does not read
/// (written by a newer release during a rolling deploy, say) is no session,
/// like a stored record that does not decode, but not a forgery: a
/// read-only request leaves the cookie alone.
#[tokio::test]
async fn an_authentic_cookie_in_another_format_version_is_not_cleared_by_a_read() {
    let t = start(CookieStore::signed()).await;
    let mut b = t.server.browser();
    b.get("/t/visit").await;
    let issued = b.jar["sid"].clone();
    // Sanity: the hand-made seal matches the store's own.
    let signer = TokenSigner::new(SigningKeys::single(key(1)), "sid");
    let record = CookieStore::signed().open(&signer, &issued).unwrap().value;
    let body = issued.split('.').nth(1).unwrap();
    let plain = URL_SAFE_NO_PAD.decode(body).unwrap();
    assert_eq!(signed_cookie(&plain, "sid"), issued, "seal reproduced");
    let v2 = String::from_utf8(plain)
        .unwrap()
        .replacen("\"v\":1", "\"v\":2", 1);
    let newer = signed_cookie(v2.as_bytes(), "sid");
    b.jar.insert("sid".into(), newer.clone());
    let r = b.get("/t/peek").await;
    assert_eq!(r.status, 200);
    assert!(
        r.cookie("sid").is_none(),
        "a read-only request cleared the authentic cookie of session {}: {:?}",
        record.id.short(),
        r.set_cookies
    );
    // A write starts a new session in place of the one this build cannot read.
    let r = b.get("/t/visit").await;
    assert_eq!((r.status, r.body.as_str()), (200, "1"));
    assert_ne!(b.jar["sid"], newer);
}

/// Under `InvalidDataPolicy::Fail`, an authentic cookie whose record does
/// not decode fails a request reading the session, as other stored data that
/// does not decode does.
#[tokio::test]
async fn an_undecodable_authentic_cookie_fails_the_request_under_the_fail_policy() {
    let t = start_with(
        CookieStore::signed(),
        SigningKeys::single(key(1)),
        policy(),
        |b| b.invalid_data(InvalidDataPolicy::Fail),
    )
    .await;
    let mut b = t.server.browser();
    b.get("/t/visit").await;
    let issued = b.jar["sid"].clone();
    let body = issued.split('.').nth(1).unwrap();
    let v2 = String::from_utf8(URL_SAFE_NO_PAD.decode(body).unwrap())
        .unwrap()
        .replacen("\"v\":1", "\"v\":2", 1);
    b.jar
        .insert("sid".into(), signed_cookie(v2.as_bytes(), "sid"));
    let r = b.get("/t/peek").await;
    assert_eq!(r.status, 500, "{}", r.body);
    assert_eq!(r.json()["error"], "session data invalid");
}

/// Revoking one cookie session is `Unsupported`, not "unknown id": the
/// session stays valid, and the caller must not be told otherwise.
#[tokio::test]
async fn revoking_one_cookie_session_is_unsupported_not_unknown() {
    let t = start(CookieStore::encrypted()).await;
    let mut b = t.server.browser();
    b.post("/t/login?user=ada").await;
    let signer = TokenSigner::new(SigningKeys::single(key(1)), "sid");
    let id = CookieStore::encrypted()
        .open(&signer, &b.jar["sid"])
        .unwrap()
        .value
        .id;
    let result = t.service.revoke("ada", &id).await;
    assert_eq!(b.get("/t/me").await.status, 200, "still logged in");
    fn unsupported<T>(result: &Result<T, session_core::SessionError>) -> bool {
        matches!(
            result,
            Err(session_core::SessionError::Store(
                StoreError::Unsupported { .. }
            ))
        )
    }
    assert!(unsupported(&result), "{result:?}");
    // Nor is a live session "unknown" to the lookups by id.
    let user = t.service.user_id(&id).await;
    assert!(unsupported(&user), "{user:?}");
    let meta = t.service.meta(&id).await;
    assert!(unsupported(&meta), "{meta:?}");
    let record = t.service.record(&id).await;
    assert!(unsupported(&record), "{record:?}");
}

/// The absolute limit counts from the sealed `created_at`: neither
/// sliding refreshes nor replaying an old cookie keeps a session past it.
#[tokio::test]
async fn cookie_sessions_end_at_the_absolute_limit() {
    let expiry = ExpiryPolicy {
        absolute: Some(90 * MIN),
        ..policy()
    };
    for store in [CookieStore::signed(), CookieStore::encrypted()] {
        let t = start_with(store, SigningKeys::single(key(1)), expiry, |b| b).await;
        let mut b = t.server.browser();
        b.post("/t/login?user=ada").await;
        let first = b.jar["sid"].clone();
        let mut last_max_age = None;
        for _ in 0..4 {
            t.clock.advance(20 * MIN);
            let r = b.get("/t/me").await;
            assert_eq!(r.status, 200);
            if let Some(c) = r.cookie("sid") {
                last_max_age = c.max_age;
            }
        }
        // The refresh at 40 min was capped at creation + 90 min.
        assert_eq!(last_max_age, Some(50 * 60), "Max-Age capped");
        t.clock.advance(10 * MIN);
        assert_eq!(b.get("/t/me").await.status, 401, "past the absolute limit");
        let mut replay = t.server.browser();
        replay.jar.insert("sid".into(), first);
        assert_eq!(replay.get("/t/me").await.status, 401, "old copy replayed");
    }
}

/// A valid seal whose data the current type cannot decode:
/// Discard gives defaults (no 500, cookie not cleared by a read), a write
/// starts anew; Fail answers the documented 500.
#[tokio::test]
async fn a_cookie_whose_data_no_longer_decodes_follows_the_invalid_data_policy() {
    let signer = TokenSigner::new(SigningKeys::single(key(1)), "sid");
    for policy_kind in [InvalidDataPolicy::Discard, InvalidDataPolicy::Fail] {
        let t = start_with(
            CookieStore::encrypted(),
            SigningKeys::single(key(1)),
            policy(),
            |b| b.invalid_data(policy_kind),
        )
        .await;
        let mut b = t.server.browser();
        b.get("/t/visit").await;
        let mut record = CookieStore::encrypted()
            .open(&signer, &b.jar["sid"])
            .unwrap()
            .value;
        record.fields.insert("visits", "\"seven\"");
        let bad = CookieStore::encrypted().seal(&signer, &record).unwrap();
        b.jar.insert("sid".into(), bad.clone());
        let r = b.get("/t/peek").await;
        match policy_kind {
            InvalidDataPolicy::Discard => {
                assert_eq!(r.status, 200, "{}", r.body);
                assert_eq!(r.json()["visits"], 0);
                assert!(r.set_cookies.is_empty(), "{:?}", r.set_cookies);
                let r = b.get("/t/visit").await;
                assert_eq!((r.status, r.body.as_str()), (200, "1"));
                assert_ne!(b.jar["sid"], bad);
            }
            InvalidDataPolicy::Fail => {
                assert_eq!(r.status, 500);
                assert_eq!(r.json()["error"], "session data invalid");
                assert!(r.set_cookies.is_empty());
            }
        }
    }
}

/// Flash through the cookie: read once across requests, carried
/// over a login.
#[tokio::test]
async fn flash_in_a_cookie_is_read_once_and_survives_a_login() {
    for store in [CookieStore::signed(), CookieStore::encrypted()] {
        let t = start(store).await;
        let mut b = t.server.browser();
        b.post("/x/flash").await;
        assert_eq!(b.get("/x/take").await.body, "hello");
        assert_eq!(b.get("/x/take").await.body, "none");
        b.post("/x/flash").await;
        assert_eq!(b.post("/t/login?user=ada").await.status, 204);
        assert_eq!(b.get("/x/take").await.body, "hello");
        assert_eq!(b.get("/x/take").await.body, "none");
        assert_eq!(b.get("/t/me").await.status, 200);
    }
}

/// An old-key cookie is re-sealed under the first key (opens with
/// that key alone), for a read and for a write; a removed key, the other
/// format and another cookie name are refused and cleared, never a 5xx.
#[tokio::test]
async fn rotation_resigns_and_foreign_cookies_are_cleared() {
    let old = start_with(
        CookieStore::encrypted(),
        SigningKeys::single(key(2)),
        policy(),
        |b| b,
    )
    .await;
    let rotated = start_with(
        CookieStore::encrypted(),
        SigningKeys::new([key(3), key(2)]).unwrap(),
        policy(),
        |b| b,
    )
    .await;
    let new_only = TokenSigner::new(SigningKeys::single(key(3)), "sid");
    for path in ["/t/me", "/t/guarded-visit"] {
        let mut c = old.server.browser();
        c.post("/t/login?user=ada").await;
        let mut d = rotated.server.browser();
        d.jar = c.jar.clone();
        let r = d.get(path).await;
        assert_eq!(r.status, 200, "{path}");
        let value = &r.cookie("sid").expect("re-issued").value;
        let opened = CookieStore::encrypted().open(&new_only, value).unwrap();
        assert_eq!(opened.key_index, 0);
        assert_eq!(opened.value.user_id(), Some("ada"));
    }
    // Removed key, signed cookie to the encrypted store, other cookie name.
    let signed = start(CookieStore::signed()).await;
    let mut s = signed.server.browser();
    s.post("/t/login?user=ada").await;
    let other_name = start_with(
        CookieStore::encrypted(),
        SigningKeys::single(key(1)),
        policy(),
        |b| b.cookie_name("other"),
    )
    .await;
    let mut o = other_name.server.browser();
    o.post("/t/login?user=ada").await;
    let enc = start(CookieStore::encrypted()).await;
    let mut e = enc.server.browser();
    e.post("/t/login?user=ada").await;
    let removed = start_with(
        CookieStore::encrypted(),
        SigningKeys::single(key(9)),
        policy(),
        |b| b,
    )
    .await;
    for (label, server, value) in [
        ("signed into encrypted", &enc.server, s.jar["sid"].clone()),
        ("other cookie name", &enc.server, o.jar["other"].clone()),
        ("removed key", &removed.server, e.jar["sid"].clone()),
    ] {
        let mut c = server.browser();
        c.jar.insert("sid".into(), value);
        let r = c.get("/t/me").await;
        assert_eq!(r.status, 401, "{label}");
        assert_eq!(r.cookie("sid").and_then(|c| c.max_age), Some(0), "{label}");
    }
}

/// A login whose sealed session would not fit is refused whole:
/// no `Set-Cookie` over 4096 bytes, the previous cookie intact.
#[tokio::test]
async fn an_oversized_login_is_refused_and_nothing_over_4096_bytes_is_sent() {
    let t = start(CookieStore::encrypted()).await;
    let mut b = t.server.browser();
    b.get("/t/visit").await;
    let before = b.jar["sid"].clone();
    let r = b.post("/x/login-big").await;
    assert_eq!(r.status, 500);
    assert_eq!(r.json()["error"], "session too large");
    assert!(r.set_cookies.is_empty());
    assert_eq!(b.jar["sid"], before);
    assert_eq!(b.get("/t/me").await.status, 401);
}

/// Every encrypted seal draws a fresh nonce: the same record
/// sealed twice gives different nonces and ciphertexts, both opening.
#[test]
fn every_encrypted_seal_has_its_own_nonce() {
    let signer = TokenSigner::new(SigningKeys::single(key(1)), "sid");
    let now = session_core::Timestamp::from_millis(1_700_000_000_000);
    let record = session_core::SessionRecord::new(
        session_core::SessionId::generate(),
        now,
        now.plus(Duration::from_secs(60)),
    );
    let store = CookieStore::encrypted();
    let tokens: Vec<_> = (0..64)
        .map(|_| store.seal(&signer, &record).unwrap())
        .collect();
    let nonces: std::collections::HashSet<_> = tokens
        .iter()
        .map(|t| URL_SAFE_NO_PAD.decode(&t[3..]).unwrap()[..24].to_vec())
        .collect();
    assert_eq!(nonces.len(), tokens.len());
    for t in &tokens {
        assert_eq!(store.open(&signer, t).unwrap().value, record);
    }
}

/// A cookie name, path and domain that leave room for a signed session id
/// but not for the cookie store's smallest sealed session (about twice as
/// long) are refused when the app is built, saying how many bytes are left;
/// else every write would answer a 500 "session too large".
#[tokio::test]
async fn a_cookie_config_that_leaves_no_room_for_a_sealed_session_is_refused_at_build() {
    let name = "s".repeat(3780);
    let clock = MockClock::starting_now();
    let built = App::builder()
        .store(CookieStore::encrypted())
        .secret(key(1))
        .secure(false)
        .cookie_name(name.clone())
        .expiry(policy())
        .clock(Arc::new(clock))
        .merge(Router::new())
        .build();
    let app = match built {
        Err(session_axum::BuildError::Cookie(error)) => {
            assert!(error.reason.contains(" bytes "), "{error}");
            return;
        }
        Err(other) => panic!("refused for another reason: {other}"),
        Ok(app) => app,
    };
    let server = TestServer::start(app.into_router()).await;
    let mut b = server.browser();
    let r = b.get("/t/visit").await;
    panic!(
        "built with a {}-byte cookie name; the smallest session then answers {} {}",
        name.len(),
        r.status,
        r.body
    );
}
