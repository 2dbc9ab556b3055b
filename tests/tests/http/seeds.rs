//! Behaviours the seeds imply that no other module tests directly, over
//! real HTTP; each names the seeds it comes from.

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use session_axum::{Auth, Binding, Session, SigningKeys};
use session_core::conformance::StoreOp;
use session_tests::profile::Counters;

use crate::app::{key, start, start_on, start_with};

/// Remix, hexancore: all keys verify, bearer tokens included: an API token
/// handed out under an older key keeps working after a key rotation.
#[tokio::test]
async fn a_bearer_token_signed_by_an_older_key_still_authenticates() {
    let old = start().await;
    let mut api = old.server.browser();
    let r = api.post("/t/token?user=bot").await;
    assert_eq!(r.status, 200);
    let token = r.json()["token"].as_str().unwrap().to_owned();
    let (store, clock) = (old.store.clone(), old.clock.clone());
    drop(old.server);
    let keys = SigningKeys::new([key(2), key(1)]).unwrap();
    let t = start_on(store, clock, keys, |b| b).await;
    let mut api = t.server.browser();
    api.bearer = Some(token);
    let r = api.get("/t/me").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["user_id"], "bot");
    assert!(r.set_cookies.is_empty(), "no cookie for a bearer client");
}

async fn login_then_fail(mut session: Session<Counters>, auth: Auth) -> StatusCode {
    session.update(|c| c.visits += 100);
    auth.login(Binding::user("eve"));
    StatusCode::INTERNAL_SERVER_ERROR
}

async fn flash_then_bad_request(mut session: Session<Counters>) -> StatusCode {
    session.flash("error", "bad input").unwrap();
    StatusCode::BAD_REQUEST
}

async fn take_flash(mut session: Session<Counters>) -> String {
    session
        .take_flash::<String>("error")
        .unwrap_or_else(|| "none".into())
}

/// hexancore: a 5xx persists nothing, a login included: no rotation, no
/// session for the new user, the old cookie and data untouched.
#[tokio::test]
async fn a_login_in_a_5xx_response_is_dropped_with_the_rest() {
    let t = start_with(SigningKeys::single(key(1)), |b| {
        b.merge(Router::new().route("/x/login-fail", post(login_then_fail)))
    })
    .await;
    let mut b = t.server.browser();
    assert_eq!(b.get("/t/visit").await.body, "1");
    let before = b.jar["sid"].clone();
    t.store.clear();
    let r = b.post("/x/login-fail").await;
    assert_eq!(r.status, 500);
    assert!(r.set_cookies.is_empty(), "{:?}", r.set_cookies);
    assert!(t.store.writes().is_empty(), "{:?}", t.store.writes());
    assert!(t.service.list_for_user("eve").await.unwrap().is_empty());
    assert_eq!(b.jar["sid"], before);
    assert_eq!(b.get("/t/me").await.status, 401);
    assert_eq!(b.get("/t/peek").await.json()["visits"], 1);
}

/// Travetto, astro-session, Remix: a handler error below 500 still persists, a flash
/// included (astro-session's failed login answers with an error status
/// too): the flash is read once on the next request.
#[tokio::test]
async fn a_flash_set_in_a_4xx_response_reaches_the_next_request_once() {
    let t = start_with(SigningKeys::single(key(1)), |b| {
        b.merge(
            Router::new()
                .route("/x/flash-400", post(flash_then_bad_request))
                .route("/x/take", get(take_flash)),
        )
    })
    .await;
    let mut b = t.server.browser();
    let r = b.post("/x/flash-400").await;
    assert_eq!(r.status, 400);
    assert!(
        r.cookie("sid").is_some(),
        "the session holding the flash was created"
    );
    assert_eq!(b.get("/x/take").await.body, "bad input");
    assert_eq!(b.get("/x/take").await.body, "none");
}

/// Travetto, hexancore: through `#[session_data]` setters on the Travetto
/// sample: the second `PUT /session/info` assigns the values already
/// stored, so it writes nothing and sends no cookie.
#[tokio::test]
async fn repeating_travettos_store_info_writes_nothing() {
    let t = start().await;
    let mut b = t.server.browser();
    assert_eq!(b.post("/m/accounts/login/roger").await.status, 204);
    let r = b.send(reqwest::Method::PUT, "/m/session/info", None).await;
    assert_eq!(r.status, 204);
    t.store.clear();
    let r = b.send(reqwest::Method::PUT, "/m/session/info", None).await;
    assert_eq!(r.status, 204);
    assert!(r.set_cookies.is_empty(), "{:?}", r.set_cookies);
    let writes = t.store.writes();
    assert!(
        writes
            .iter()
            .all(|w| !matches!(w, StoreOp::Save(..) | StoreOp::Create(..))),
        "{writes:?}"
    );
    assert_eq!(b.get("/m/session/info/age").await.body, "20");
}

/// Travetto: for API clients: a new login from a bearer session gives a new
/// session id; the old token loads nothing afterwards.
#[tokio::test]
async fn a_new_bearer_login_retires_the_old_token() {
    let t = start().await;
    let mut api = t.server.browser();
    let first = api.post("/t/token?user=bot").await.json()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    api.bearer = Some(first.clone());
    assert_eq!(api.get("/t/visit").await.body, "1");
    // Logs in again as the same user (another user's login would not carry
    // the data over, by design).
    let r = api.post("/t/token?user=bot").await;
    assert_eq!(r.status, 200);
    let second = r.json()["token"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    let mut old = t.server.browser();
    old.bearer = Some(first);
    assert_eq!(old.get("/t/me").await.status, 401);
    let mut new = t.server.browser();
    new.bearer = Some(second);
    assert_eq!(new.get("/t/me").await.json()["user_id"], "bot");
    assert_eq!(
        new.get("/t/peek").await.json()["visits"],
        1,
        "data carried over"
    );
    assert_eq!(t.service.list_for_user("bot").await.unwrap().len(), 1);
}

/// Travetto, astro-session: asking for a flash on a request without a session
/// reads none and creates nothing.
#[tokio::test]
async fn taking_a_flash_without_a_session_creates_nothing() {
    let t = start_with(SigningKeys::single(key(1)), |b| {
        b.merge(Router::new().route("/x/take", get(take_flash)))
    })
    .await;
    let mut b = t.server.browser();
    let r = b.get("/x/take").await;
    assert_eq!(r.body, "none");
    assert!(r.set_cookies.is_empty(), "{:?}", r.set_cookies);
    assert!(t.store.inner().is_empty());
    assert!(t.store.writes().is_empty(), "{:?}", t.store.writes());
}

/// hexancore: an API login from a fresh client is a logged-in session: full
/// `lifetime`, never `initial_lifetime`.
#[tokio::test]
async fn an_api_login_gets_the_full_lifetime() {
    let t = start().await;
    let now = session_core::Clock::now(&t.clock);
    let mut api = t.server.browser();
    assert_eq!(api.post("/t/token?user=bot").await.status, 200);
    let infos = t.service.list_for_user("bot").await.unwrap();
    assert_eq!(infos.len(), 1);
    assert_eq!(infos[0].expires_at, now + crate::app::MIN * 60);
}

/// Travetto: Travetto's `@Authenticated()` routes with an anonymous session
/// present: 401, and the session is neither written nor refreshed.
#[tokio::test]
async fn travettos_routes_refuse_an_anonymous_session_without_touching_it() {
    let t = start().await;
    let mut b = t.server.browser();
    assert_eq!(b.get("/t/visit").await.body, "1");
    t.store.clear();
    assert_eq!(b.get("/m/session/info/age").await.status, 401);
    let r = b.send(reqwest::Method::PUT, "/m/session/info", None).await;
    assert_eq!(r.status, 401);
    assert!(r.set_cookies.is_empty(), "{:?}", r.set_cookies);
    assert!(t.store.writes().is_empty(), "{:?}", t.store.writes());
    assert_eq!(b.get("/t/peek").await.json()["visits"], 1);
}

/// astro-session's `createCookieSessionStorage({count: 0, user: null},
/// {cookie: {name: "__session-id", path: "/"}})`: the visit counter on the
/// cookie store under the seed's cookie name.
#[tokio::test]
async fn astro_cookie_storage_with_the_seeds_cookie_name_counts_visits() {
    let app = session_axum::App::builder()
        .store(session_core::CookieStore::signed())
        .keys(&SigningKeys::single(key(3)))
        .secure(false)
        .cookie_name("__session-id")
        .build()
        .expect("the seed's cookie name is usable");
    let server = session_tests::http::TestServer::start(app.into_router()).await;
    let mut b = server.browser();
    let r = b.get("/t/visit").await;
    assert_eq!(r.body, "1");
    let c = r
        .cookie("__session-id")
        .expect("cookie under the seed's name");
    assert!(
        c.has("Path=/") && c.has("HttpOnly") && c.has("SameSite=Lax"),
        "{}",
        c.raw
    );
    assert_eq!(b.get("/t/visit").await.body, "2");
}
