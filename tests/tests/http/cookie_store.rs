//! The same app on client-side sessions: everything in the cookie.

use std::sync::Arc;

use axum::Router;
use session_axum::{App, SigningKeys};
use session_core::{ClientSide as _, CookieStore, MockClock};
use session_tests::http::TestServer;

use crate::app::{MIN, key, policy};

async fn start(store: CookieStore, keys: SigningKeys) -> (TestServer, MockClock) {
    let clock = MockClock::starting_now();
    let app = App::builder()
        .store(store)
        .keys(&keys)
        .secure(false)
        .cookie_name("sid")
        .expiry(policy())
        .clock(Arc::new(clock.clone()))
        .merge(Router::new())
        .build()
        .unwrap();
    (TestServer::start(app.into_router()).await, clock)
}

#[tokio::test]
async fn counting_login_and_logout_work_from_the_cookie_alone() {
    for store in [CookieStore::signed(), CookieStore::encrypted()] {
        let (server, _) = start(store, SigningKeys::single(key(1))).await;
        let mut b = server.browser();
        assert!(
            b.get("/t/peek").await.set_cookies.is_empty(),
            "read-only: no cookie"
        );
        assert_eq!(b.get("/t/visit").await.body, "1");
        assert_eq!(b.get("/t/visit").await.body, "2");
        let r = b.post("/t/login?user=ada").await;
        assert_eq!(r.status, 204);
        assert_eq!(b.get("/t/me").await.json()["user_id"], "ada");
        assert_eq!(
            b.get("/t/peek").await.json()["visits"],
            2,
            "data carried over the login"
        );
        let r = b.post("/t/logout").await;
        assert_eq!(r.cookie("sid").and_then(|c| c.max_age), Some(0));
        assert_eq!(b.get("/t/me").await.status, 401);
    }
}

#[tokio::test]
async fn tampered_truncated_and_foreign_cookies_give_a_fresh_session() {
    let (server, _) = start(CookieStore::encrypted(), SigningKeys::single(key(1))).await;
    let mut b = server.browser();
    b.post("/t/login?user=ada").await;
    let good = b.jar["sid"].clone();
    let mut flipped = good.clone().into_bytes();
    let i = flipped.len() / 2;
    flipped[i] = if flipped[i] == b'A' { b'B' } else { b'A' };
    let (other, _) = start(CookieStore::encrypted(), SigningKeys::single(key(7))).await;
    let mut foreign = other.browser();
    foreign.post("/t/login?user=mallory").await;
    for value in [
        String::from_utf8(flipped).unwrap(),
        good[..good.len() - 10].to_owned(),
        foreign.jar["sid"].clone(),
        "e1.garbage".into(),
    ] {
        let mut c = server.browser();
        c.jar.insert("sid".into(), value.clone());
        let r = c.get("/t/me").await;
        assert_eq!(r.status, 401, "{value:?}");
        assert_eq!(
            r.cookie("sid").and_then(|c| c.max_age),
            Some(0),
            "cleared: {value:?}"
        );
        assert_eq!(
            c.get("/t/visit").await.body,
            "1",
            "fresh session: {value:?}"
        );
    }
}

#[tokio::test]
async fn an_oversized_session_is_an_error_not_a_truncated_cookie() {
    let (server, _) = start(CookieStore::signed(), SigningKeys::single(key(1))).await;
    let mut b = server.browser();
    b.get("/t/visit").await;
    let before = b.jar["sid"].clone();
    let r = b.get("/t/big?n=3900").await;
    assert_eq!(r.status, 500);
    assert_eq!(r.json()["error"], "session too large");
    assert!(r.set_cookies.is_empty());
    assert_eq!(b.jar["sid"], before);
    assert_eq!(
        b.get("/t/peek").await.json()["visits"],
        1,
        "the previous session is intact"
    );
    assert_eq!(
        b.get("/t/big?n=1000").await.status,
        204,
        "a session that fits is fine"
    );
}

/// The largest session a write accepts: its `Set-Cookie` with `Max-Age` of
/// 300 (a new session) leaves room for the refresh's longer `Max-Age`.
#[tokio::test]
async fn the_largest_session_accepted_still_refreshes() {
    let (server, clock) = start(CookieStore::signed(), SigningKeys::single(key(1))).await;
    let (mut fits, mut too_big) = (1000, 4096);
    while too_big - fits > 1 {
        let n = (fits + too_big) / 2;
        match server.browser().get(&format!("/t/big?n={n}")).await.status {
            204 => fits = n,
            _ => too_big = n,
        }
    }
    let mut b = server.browser();
    let r = b.get(&format!("/t/big?n={fits}")).await;
    assert_eq!(r.cookie("sid").and_then(|c| c.max_age), Some(300));
    clock.advance(MIN);
    let r = b.get("/t/peek").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let refreshed = r.cookie("sid").expect("refreshed");
    assert_eq!(refreshed.max_age, Some(3600));
    assert!(refreshed.raw.len() <= 4096, "{}", refreshed.raw.len());
}

/// A cookie issued at the very limit (by an earlier release, say) whose
/// refresh would not fit: the read answers, and the client keeps its cookie.
#[tokio::test]
async fn a_refresh_too_large_for_the_cookie_keeps_the_cookie_not_the_request_from_answering() {
    let (server, clock) = start(CookieStore::signed(), SigningKeys::single(key(1))).await;
    let mut b = server.browser();
    let r = b.get("/t/visit").await;
    let issued = r.cookie("sid").unwrap();
    let overhead = issued.raw.len() - issued.value.len();
    assert_eq!(issued.max_age, Some(300));

    let signer = session_core::TokenSigner::new(SigningKeys::single(key(1)), "sid");
    let opened = CookieStore::signed()
        .open(&signer, &issued.value)
        .unwrap()
        .value;
    // Padded until its `Set-Cookie` at `Max-Age=300` is exactly 4096 bytes.
    let (padding, at_limit) = (2000..4000)
        .find_map(|n| {
            let mut record = opened.clone();
            record.fields.insert("a", format!("\"{}\"", "x".repeat(n)));
            let token = CookieStore::signed().seal(&signer, &record).ok()?;
            (token.len() + overhead == 4096).then_some((n, token))
        })
        .expect("a padding that lands on 4096 bytes");
    b.jar.insert("sid".into(), at_limit.clone());
    clock.advance(MIN);
    let r = b.get("/t/peek").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["a"].as_str().map(str::len), Some(padding));
    assert!(r.set_cookies.is_empty(), "no cookie over the limit");
    assert_eq!(b.jar["sid"], at_limit, "the client keeps its cookie");
}

#[tokio::test]
async fn listing_and_revocation_are_not_supported() {
    let (server, _) = start(CookieStore::encrypted(), SigningKeys::single(key(1))).await;
    let mut b = server.browser();
    b.post("/t/login?user=ada").await;
    let r = b.post("/t/revoke-others").await;
    assert_eq!(r.status, 501);
    assert_eq!(r.json()["error"], "not supported by this app's sessions");
    // A bearer token cannot be handed out before the sealed session exists.
    let r = server.browser().post("/t/token?user=bot").await;
    assert_eq!(r.status, 501);
    assert!(r.set_cookies.is_empty());
}

#[tokio::test]
async fn a_failed_request_sends_no_changed_cookie() {
    let (server, _) = start(CookieStore::encrypted(), SigningKeys::single(key(1))).await;
    let mut b = server.browser();
    assert_eq!(b.get("/t/visit").await.body, "1");
    // The handler adds 100 visits and fails: its change must not reach the client.
    let r = b.get("/t/fail").await;
    assert_eq!(r.status, 500);
    assert!(r.set_cookies.is_empty(), "{:?}", r.set_cookies);
    assert_eq!(b.get("/t/visit").await.body, "2");
}

#[tokio::test]
async fn a_cookie_session_sent_as_a_bearer_token_is_not_used() {
    // The changed session could only go back in a cookie, which a bearer
    // client does not send: such a token is not read at all.
    let (server, _) = start(CookieStore::encrypted(), SigningKeys::single(key(1))).await;
    let mut b = server.browser();
    assert_eq!(b.get("/t/visit").await.body, "1");
    let sealed = b.jar.remove("sid").unwrap();
    let mut api = server.browser();
    api.bearer = Some(sealed);
    let r = api.get("/t/visit").await;
    assert_eq!((r.status, r.body.as_str()), (200, "1"), "a new session");
    assert!(
        r.cookie("sid").is_some_and(|c| !c.value.is_empty()),
        "the change goes out in a cookie, not lost"
    );
    // Nor is the client asked for a bearer token it cannot use.
    let r = api.get("/t/me").await;
    assert_eq!(r.status, 401);
    assert!(!r.headers.contains_key("www-authenticate"));
}

#[tokio::test]
async fn an_expired_cookie_does_not_hide_the_live_one_behind_it() {
    let (server, clock) = start(CookieStore::encrypted(), SigningKeys::single(key(1))).await;
    let mut old = server.browser();
    old.post("/t/login?user=ada").await;
    let stale = old.jar["sid"].clone();
    clock.advance(61 * MIN);
    let mut fresh = server.browser();
    fresh.post("/t/login?user=ada").await;
    let good = fresh.jar["sid"].clone();
    let me = |cookie: String| {
        let url = server.url("/t/me");
        async move {
            let r = session_tests::http::client()
                .get(url)
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap();
            (r.status(), cookie)
        }
    };
    let (status, _) = me(format!("sid={stale}")).await;
    assert_eq!(status, 401, "the expired cookie alone");
    for header in [
        format!("sid={stale}; sid={good}"),
        format!("sid={good}; sid={stale}"),
    ] {
        let (status, header) = me(header).await;
        assert_eq!(status, 200, "{header}");
    }
}

#[tokio::test]
async fn expiry_and_key_rotation_work_for_cookie_sessions() {
    let (server, clock) = start(CookieStore::encrypted(), SigningKeys::single(key(1))).await;
    let mut b = server.browser();
    b.post("/t/login?user=ada").await;
    clock.advance(31 * MIN);
    let r = b.get("/t/me").await;
    assert_eq!(
        r.cookie("sid").and_then(|c| c.max_age),
        Some(3600),
        "refreshed past the threshold"
    );
    clock.advance(61 * MIN);
    assert_eq!(
        b.get("/t/me").await.status,
        401,
        "expired inside the cookie"
    );

    let (old, _) = start(CookieStore::encrypted(), SigningKeys::single(key(2))).await;
    let mut c = old.browser();
    c.post("/t/login?user=ada").await;
    let (rotated, _) = start(
        CookieStore::encrypted(),
        SigningKeys::new([key(3), key(2)]).unwrap(),
    )
    .await;
    let mut d = rotated.browser();
    d.jar = c.jar.clone();
    let r = d.get("/t/me").await;
    assert_eq!(r.status, 200);
    assert!(r.cookie("sid").is_some(), "re-issued under the new key");
    assert!(d.get("/t/me").await.set_cookies.is_empty());
}

/// "Remember me" unchecked in a cookie session: the choice travels in the
/// sealed cookie, so a later write of the session keeps the cookie a
/// browser-session one.
#[tokio::test]
async fn a_cookie_session_keeps_its_logins_cookie_lifetime() {
    let (server, _) = start(CookieStore::encrypted(), SigningKeys::single(key(1))).await;
    let mut b = server.browser();
    let r = b.post("/t/login?user=ada&remember=false").await;
    assert_eq!(r.cookie("sid").map(|c| c.max_age), Some(None));
    let r = b.get("/t/visit").await;
    assert_eq!(r.body, "1");
    assert_eq!(
        r.cookie("sid").map(|c| c.max_age),
        Some(None),
        "the re-sealed cookie keeps the choice"
    );
    assert_eq!(b.get("/t/me").await.json()["user_id"], "ada");
}

/// A slow request of the browser, started while `b`'s cookies were what
/// they are now: its response's session cookie, once it arrives.
fn slow_write(
    server: &TestServer,
    b: &session_tests::http::Browser,
) -> tokio::task::JoinHandle<String> {
    let cookie = b.cookie_header();
    let url = server.url("/t/set-a?v=late");
    tokio::spawn(async move {
        let r = session_tests::http::client()
            .get(url)
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        let set = r.headers()["set-cookie"].to_str().unwrap().to_owned();
        let value = set.split(';').next().unwrap();
        value.strip_prefix("sid=").unwrap().to_owned()
    })
}

/// The browser keeps the `Set-Cookie` that arrives last: a response still
/// in flight at a logout sets the logged-out session back. The logout's
/// ended-sessions cookie makes the next request refuse it. A copy replayed
/// from elsewhere, without that cookie, is not refused (documented).
#[tokio::test]
async fn a_response_in_flight_at_a_logout_does_not_log_the_browser_back_in() {
    let (server, _) = start(CookieStore::encrypted(), SigningKeys::single(key(1))).await;
    let mut b = server.browser();
    assert_eq!(b.post("/t/login?user=ada").await.status, 204);
    let copy = b.jar["sid"].clone();
    let slow = slow_write(&server, &b);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let r = b.post("/t/logout").await;
    assert_eq!(r.cookie("sid").and_then(|c| c.max_age), Some(0));
    let ended = r.cookie("sid-ended").expect("the ended-sessions cookie");
    assert!(
        ended.has("HttpOnly") && ended.max_age.is_some(),
        "{ended:?}"
    );
    // The slow response arrives after the logout's.
    b.jar.insert("sid".into(), slow.await.unwrap());

    let r = b.get("/t/me").await;
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(r.cookie("sid").and_then(|c| c.max_age), Some(0), "cleared");
    assert_eq!(b.get("/t/visit").await.body, "1", "a fresh session");

    let mut elsewhere = server.browser();
    elsewhere.jar.insert("sid".into(), copy);
    assert_eq!(elsewhere.get("/t/me").await.json()["user_id"], "ada");
}

/// A login as another user: a slower response of the first user's session
/// would switch the browser back to them; it is refused, and the browser is
/// logged out instead. The browser keeps the list across later logins and
/// logouts: each ended session stays refused.
#[tokio::test]
async fn a_response_in_flight_at_a_login_does_not_switch_the_user_back() {
    let (server, _) = start(CookieStore::signed(), SigningKeys::single(key(1))).await;
    let mut b = server.browser();
    assert_eq!(b.post("/t/login?user=ada").await.status, 204);
    let slow = slow_write(&server, &b);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assert_eq!(b.post("/t/login?user=grace").await.status, 204);
    assert_eq!(b.get("/t/me").await.json()["user_id"], "grace");
    let grace = b.jar["sid"].clone();
    let late = slow.await.unwrap();
    b.jar.insert("sid".into(), late.clone());
    assert_eq!(b.get("/t/me").await.status, 401);

    // Logged in as grace again, then logged out: both ended sessions,
    // ada's and grace's first, stay refused.
    b.jar.insert("sid".into(), grace.clone());
    assert_eq!(b.get("/t/me").await.json()["user_id"], "grace");
    assert_eq!(b.post("/t/logout").await.status, 204);
    for copy in [late, grace] {
        b.jar.insert("sid".into(), copy);
        assert_eq!(b.get("/t/me").await.status, 401);
    }
}

/// An app with no interceptors of its own runs the built-in steps fused
/// into one: the ended-sessions cookie is read there too.
#[tokio::test]
async fn the_check_runs_in_an_app_with_only_the_built_in_interceptors() {
    use axum::routing::{get, post};
    use session_axum::{Auth, Binding, Principal};
    async fn login(auth: Auth) -> axum::http::StatusCode {
        auth.login(Binding::user("ada"));
        axum::http::StatusCode::NO_CONTENT
    }
    async fn logout(auth: Auth) -> axum::http::StatusCode {
        auth.logout().await.unwrap();
        axum::http::StatusCode::NO_CONTENT
    }
    async fn me(principal: Principal) -> String {
        principal.user_id
    }
    let app = App::builder()
        .store(CookieStore::encrypted())
        .keys(&SigningKeys::single(key(1)))
        .secure(false)
        .cookie_name("sid")
        .use_registry(false)
        .merge(
            Router::new()
                .route("/login", post(login))
                .route("/logout", post(logout))
                .route("/me", get(me)),
        )
        .build()
        .unwrap();
    assert_eq!(
        app.interceptor_order(),
        ["AuthInterceptor", "SessionInterceptor"]
    );
    let server = TestServer::start(app.into_router()).await;
    let mut b = server.browser();
    assert_eq!(b.post("/login").await.status, 204);
    let copy = b.jar["sid"].clone();
    assert_eq!(b.post("/logout").await.status, 204);
    assert!(b.jar.contains_key("sid-ended"), "{:?}", b.jar);
    b.jar.insert("sid".into(), copy);
    assert_eq!(b.get("/me").await.status, 401);
}

/// A socket cannot be tied to a session that lives in the browser's
/// cookie: `Auth::session_end` says so instead of never completing.
#[tokio::test]
async fn watching_a_client_side_session_for_its_end_is_refused() {
    let app = App::builder()
        .store(CookieStore::signed())
        .keys(&SigningKeys::single(key(1)))
        .secure(false)
        .cookie_name("sid")
        .merge(Router::new().route(
            "/watch",
            axum::routing::get(|auth: session_axum::Auth| async move {
                auth.session_end(std::time::Duration::from_secs(1))
                    .map(|_| "watching")
            }),
        ))
        .build()
        .unwrap();
    let server = TestServer::start(app.into_router()).await;
    let mut b = server.browser();
    assert_eq!(b.post("/t/login?user=ada").await.status, 204);
    let r = b.get("/watch").await;
    assert_eq!(r.status, 501, "{r:?}");
}

/// README: "a header packed with forged ones costs eight signature checks
/// at most". The ended-sessions cookie is the client's to fill as well: a
/// logged-in request with thousands of forged `sid-ended` values must not
/// buy a signature check for each; its session is refused (more than are
/// read could hide the real one), an answer, not a 5xx.
#[tokio::test]
async fn a_header_packed_with_forged_ended_cookies_costs_a_bounded_number_of_checks() {
    let (server, _) = start(CookieStore::encrypted(), SigningKeys::single(key(1))).await;
    let mut b = server.browser();
    assert_eq!(b.post("/t/login?user=ada").await.status, 204);
    // Well formed, so that each one reaches the signature check.
    let forged = format!("sid-ended=x.{}", "A".repeat(43));
    let header = std::iter::once(format!("sid={}", b.jar["sid"]))
        .chain(std::iter::repeat_n(forged, 2000))
        .collect::<Vec<_>>()
        .join("; ");
    let (log, _guard) = session_tests::logs::capture();
    let r = session_tests::http::client()
        .get(server.url("/t/me"))
        .header("cookie", header)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let checked = log
        .text()
        .lines()
        .filter(|l| l.contains("ended-sessions cookie refused"))
        .count();
    assert!(
        checked <= 8,
        "{checked} forged ended-sessions cookies checked"
    );
}

/// The ended-sessions cookie still refuses a logged-out session when
/// cookies set by another party (a sibling subdomain's, with a longer path,
/// which browsers send first) come before it: eight forged values ahead of
/// the real one must not let the session a slow response set back in
/// authenticate again.
#[tokio::test]
async fn forged_ended_cookies_ahead_of_the_real_one_do_not_revive_an_ended_session() {
    let (server, _) = start(CookieStore::encrypted(), SigningKeys::single(key(1))).await;
    let mut b = server.browser();
    assert_eq!(b.post("/t/login?user=ada").await.status, 204);
    let copy = b.jar["sid"].clone();
    let r = b.post("/t/logout").await;
    assert_eq!(r.cookie("sid").and_then(|c| c.max_age), Some(0));
    let ended = b.jar["sid-ended"].clone();
    let request = |forged: usize| {
        let header = std::iter::repeat_n(format!("sid-ended=x.{}", "A".repeat(43)), forged)
            .chain([format!("sid-ended={ended}"), format!("sid={copy}")])
            .collect::<Vec<_>>()
            .join("; ");
        session_tests::http::client()
            .get(server.url("/t/me"))
            .header("cookie", header)
            .send()
    };
    assert_eq!(
        request(0).await.unwrap().status(),
        401,
        "refused with the real cookie alone"
    );
    assert_eq!(
        request(8).await.unwrap().status(),
        401,
        "refused with eight forged values ahead of the real one"
    );
}
