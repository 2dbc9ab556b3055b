//! Session hashes damaged behind the store's back, as a user meets them: a
//! data or flash value that is not JSON makes the record corrupt, as a
//! damaged record is to the file store (whose records are one JSON
//! document, so such a value cannot stay hidden in one): the service
//! treats it as no session, whatever part of it a request reads.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use session_axum::{App, Auth, Binding, Key, Principal, Session};
use session_core::{InvalidDataPolicy, MockClock, SessionId, SessionStore as _, StoreError};
use session_redis::RedisStore;
use session_tests::http::{Browser, TestServer};
use session_tests::profile::Counters;

use crate::support;

const LIFE: Duration = Duration::from_secs(600);

async fn hset(
    store: &RedisStore,
    server: &support::RedisServer,
    id: &SessionId,
    field: &str,
    value: &str,
) {
    let _: i64 = redis::cmd("HSET")
        .arg(store.session_key(id))
        .arg(field)
        .arg(value)
        .query_async(&mut support::admin(server).await)
        .await
        .unwrap();
}

/// Values that are not JSON text, as a tool or another app might leave.
const NOT_JSON: [&str; 5] = ["oops", "", "{", "[1,", "'quoted'"];

#[tokio::test]
async fn a_data_or_flash_value_that_is_not_json_is_corrupt_to_load() {
    let Some(server) = support::standalone() else {
        return;
    };
    let clock = MockClock::starting_now();
    let store = support::store_on(server, &clock);
    for field in ["f:count", "f:other", "l:notice"] {
        for value in NOT_JSON {
            let r = support::counter(&clock, 1, LIFE, Some("ada"));
            store.create(&r).await.unwrap();
            hset(&store, server, &r.id, field, value).await;
            let loaded = store.load(&r.id).await;
            assert!(
                matches!(&loaded, Err(StoreError::Corrupt(reason)) if reason.contains(&field[2..])),
                "{field} = {value:?}: {loaded:?}"
            );
            store.delete(&r.id).await.unwrap();
        }
    }
    // JSON of any shape, spaced or not, loads as it is.
    for value in [
        "7",
        " 7 ",
        "\"text\"",
        "[1, {\"a\": null}]",
        "true",
        "-1.5e3",
    ] {
        let r = support::counter(&clock, 1, LIFE, None);
        store.create(&r).await.unwrap();
        hset(&store, server, &r.id, "f:count", value).await;
        let loaded = store.load(&r.id).await.unwrap().unwrap();
        assert_eq!(loaded.fields.get("count"), Some(value));
        store.delete(&r.id).await.unwrap();
    }
}

/// An app on `store` with a counter, a login and a principal route.
async fn app(
    store: RedisStore,
    clock: &MockClock,
    policy: InvalidDataPolicy,
) -> (TestServer, session_core::SessionService) {
    async fn visit(mut session: Session<Counters>) -> String {
        session.update(|c| c.visits += 1);
        session.visits.to_string()
    }
    async fn login(auth: Auth) -> &'static str {
        auth.login(Binding::user("ada"));
        "in"
    }
    async fn me(principal: Option<Principal>) -> String {
        principal.map_or_else(|| "nobody".to_owned(), |p| p.user_id)
    }
    async fn logout(auth: Auth) -> impl axum::response::IntoResponse {
        auth.logout().await
    }
    let routes = Router::new()
        .route("/visit", get(visit))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/me", get(me));
    let app = App::builder()
        .store(store)
        .secret(Key::new([7; 32]).unwrap())
        .use_registry(false)
        .secure(false)
        .cookie_name("sid")
        .clock(Arc::new(clock.clone()))
        .invalid_data(policy)
        .merge(routes)
        .build()
        .expect("app builds");
    let service = app.service().clone();
    (TestServer::start(app.into_router()).await, service)
}

/// A logged-in browser with one visit counted; its session's id.
/// A browser logged in as `ada` (one visit counted) on an app over a fresh
/// store of the shared server, under `policy`; `None` without Redis.
struct LoggedIn {
    server: &'static support::RedisServer,
    store: RedisStore,
    service: session_core::SessionService,
    // Kept: dropping it stops the app.
    _http: TestServer,
    browser: Browser,
    id: SessionId,
}

impl LoggedIn {
    /// Sets `field` of the session's hash to `value`, behind the store's back.
    async fn damage(&self, field: &str, value: &str) {
        hset(&self.store, self.server, &self.id, field, value).await;
    }
}

async fn logged_in(policy: InvalidDataPolicy) -> Option<LoggedIn> {
    let server = support::standalone()?;
    let clock = MockClock::starting_now();
    let store = support::store_on(server, &clock);
    let (http, service) = app(store.clone(), &clock, policy).await;
    let mut browser = http.browser();
    assert_eq!(browser.post("/login").await.status, 200);
    assert_eq!(browser.get("/visit").await.body, "1");
    assert_eq!(browser.get("/me").await.body, "ada");
    let id = service
        .session_id_from_token(&browser.jar["sid"])
        .expect("a session cookie");
    Some(LoggedIn {
        server,
        store,
        service,
        _http: http,
        browser,
        id,
    })
}

/// A session whose stored counter is not JSON is no session, as a corrupt
/// file store record is: the login is not in use (not even on a route that
/// reads no data), and a read of the data starts afresh under `Discard`.
#[tokio::test]
async fn over_http_a_value_that_is_not_json_is_no_session_under_discard() {
    let Some(mut t) = logged_in(InvalidDataPolicy::Discard).await else {
        return;
    };
    t.damage("f:visits", "oops").await;
    let me = t.browser.get("/me").await;
    assert_eq!((me.status, me.body.as_str()), (200, "nobody"));
    let visit = t.browser.get("/visit").await;
    assert_eq!(
        (visit.status, visit.body.as_str()),
        (200, "1"),
        "a fresh start"
    );
    let new = t
        .service
        .session_id_from_token(&t.browser.jar["sid"])
        .expect("a new cookie");
    assert_ne!(new, t.id, "the damaged record is not written to");
    assert_eq!(t.browser.get("/me").await.body, "nobody");
    assert!(matches!(
        t.store.load(&t.id).await,
        Err(StoreError::Corrupt(_))
    ));
}

/// Under `Fail`, reading the data answers the short typed error (never
/// internals), and the login is not in use either.
#[tokio::test]
async fn over_http_a_value_that_is_not_json_fails_reads_under_fail() {
    let Some(mut t) = logged_in(InvalidDataPolicy::Fail).await else {
        return;
    };
    t.damage("l:notice", "not json").await;
    let me = t.browser.get("/me").await;
    assert_eq!((me.status, me.body.as_str()), (200, "nobody"));
    let visit = t.browser.get("/visit").await;
    assert_eq!(visit.status, 500);
    assert_eq!(
        visit.json(),
        serde_json::json!({"error": "session data invalid"})
    );
}

/// Over the typed handle: no session, and under `Fail` a typed error.
#[tokio::test]
async fn over_the_typed_handle_a_value_that_is_not_json_is_no_session() {
    let Some(server) = support::standalone() else {
        return;
    };
    let clock = MockClock::starting_now();
    for policy in [InvalidDataPolicy::Discard, InvalidDataPolicy::Fail] {
        let store = support::store_on(server, &clock);
        let service = session_core::SessionService::builder()
            .store(store.clone())
            .key(Key::new([7; 32]).unwrap())
            .clock(Arc::new(clock.clone()))
            .invalid_data(policy)
            .build()
            .unwrap();
        let r = support::counter(&clock, 1, LIFE, Some("ada"));
        store.create(&r).await.unwrap();
        let token = service.token_for(&r.id);
        hset(&store, server, &r.id, "f:visits", "{").await;
        let cell = service.load(Some(&token)).await.unwrap();
        {
            let state = cell.lock();
            assert!(!state.is_loaded(), "{policy:?}");
            assert!(state.binding().is_none(), "{policy:?}: not logged in");
        }
        let typed = service.typed::<Counters>(&cell);
        match policy {
            InvalidDataPolicy::Discard => {
                let session = typed.unwrap();
                assert!(session.is_new());
                assert_eq!(session.visits, 0);
            }
            InvalidDataPolicy::Fail => assert!(
                matches!(typed, Err(session_core::SessionError::Data(_))),
                "{:?}",
                typed.err()
            ),
        }
    }
}

/// A damaged binding (`_b`), which the save script does not read (it checks
/// ownership by `_u`): a save that reaches such a record (one loaded before
/// the damage) writes its data and moves the index entry as for any bound
/// session, and the record stays corrupt to `load`, so no request is
/// logged in by it; listings skip it, and revoking the user deletes it.
#[tokio::test]
async fn a_save_to_a_record_whose_binding_is_damaged_keeps_it_corrupt_indexed_and_revocable() {
    use session_core::clock::Clock as _;
    let Some(server) = support::standalone() else {
        return;
    };
    let clock = MockClock::starting_now();
    let store = support::store_on(server, &clock);
    let user = format!("u-{}", SessionId::generate());
    let r = support::counter(&clock, 1, LIFE, Some(&user));
    store.create(&r).await.unwrap();
    for damaged in ["{oops", "", "null", "{\"label\":\"x\"}"] {
        hset(&store, server, &r.id, "_b", damaged).await;
        let later = clock.now().plus(LIFE * 2);
        let mut patch = session_core::SessionPatch {
            last_seen: clock.now(),
            expires_at: Some(later),
            user_id: Some(user.clone()),
            ..Default::default()
        };
        patch.set_fields.insert("count", "2");
        let saved = store.save(&r.id, &patch).await;
        assert_eq!(
            saved.unwrap(),
            session_core::SaveOutcome::Saved,
            "{damaged:?}"
        );
        let mut admin = support::admin(server).await;
        let (binding, count): (String, String) = redis::cmd("HMGET")
            .arg(store.session_key(&r.id))
            .arg("_b")
            .arg("f:count")
            .query_async(&mut admin)
            .await
            .unwrap();
        assert_eq!((binding.as_str(), count.as_str()), (damaged, "2"));
        assert!(
            matches!(store.load(&r.id).await, Err(StoreError::Corrupt(_))),
            "{damaged:?}"
        );
        let score: Option<u64> = redis::cmd("ZSCORE")
            .arg(store.user_index_key(&user))
            .arg(r.id.to_string())
            .query_async(&mut admin)
            .await
            .unwrap();
        assert_eq!(
            score,
            Some(later.as_millis()),
            "{damaged:?}: the entry follows `_u`"
        );
        assert!(
            support::listed(&store, &user).await.is_empty(),
            "{damaged:?}"
        );
    }
    assert_eq!(store.delete_for_user(&user, None).await.unwrap(), 1);
    assert!(store.load(&r.id).await.unwrap().is_none());
    let left: i64 = redis::cmd("EXISTS")
        .arg(store.user_index_key(&user))
        .query_async(&mut support::admin(server).await)
        .await
        .unwrap();
    assert_eq!(left, 0);
}

/// Over HTTP a damaged binding is no login and no error: a fresh session
/// where the route writes, and a logout removes the damaged record and its
/// index entry.
#[tokio::test]
async fn over_http_a_damaged_binding_is_no_login_and_a_logout_removes_it() {
    let Some(mut t) = logged_in(InvalidDataPolicy::Discard).await else {
        return;
    };
    t.damage("_b", "{\"user_id\":").await;
    let me = t.browser.get("/me").await;
    assert_eq!((me.status, me.body.as_str()), (200, "nobody"));
    let jar = t.browser.jar.clone();
    let visit = t.browser.get("/visit").await;
    assert_eq!((visit.status, visit.body.as_str()), (200, "1"));
    t.browser.jar = jar;
    assert!(t.browser.post("/logout").await.status < 300);
    assert!(t.store.load(&t.id).await.unwrap().is_none());
    assert!(support::listed(&t.store, "ada").await.is_empty());
}

/// With a local cache, a copy is not served once a value that is not JSON
/// is written by hand: the change's invalidation drops the copy, and the
/// record is corrupt to load as without a cache; a fresh load does not
/// cache it either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_local_cache_a_value_that_is_not_json_is_corrupt_to_load_too() {
    let Some(server) = support::standalone() else {
        return;
    };
    let clock = MockClock::starting_now();
    let store = support::builder(&clock)
        .url(server.url())
        .key_prefix(support::unique_prefix())
        .local_cache(100)
        .build()
        .expect("store");
    for field in ["f:count", "l:notice"] {
        let r = support::counter(&clock, 1, LIFE, Some("ada"));
        store.create(&r).await.unwrap();
        // Loaded twice: the second is served by the copy.
        for _ in 0..2 {
            assert!(store.load(&r.id).await.unwrap().is_some(), "{field}");
        }
        hset(&store, server, &r.id, field, "oops").await;
        store.ping().await.unwrap();
        for _ in 0..2 {
            let loaded = store.load(&r.id).await;
            assert!(
                matches!(&loaded, Err(StoreError::Corrupt(_))),
                "{field}: {loaded:?}"
            );
        }
        store.delete(&r.id).await.unwrap();
    }
}
