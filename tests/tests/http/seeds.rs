//! Behaviours the seeds imply that no other module tests directly, over
//! real HTTP; each names the seeds it comes from.

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use session_axum::{Auth, Binding, Session, SigningKeys};
use session_core::conformance::StoreOp;
use session_tests::profile::Counters;

use session_core::SessionStore as _;

use crate::app::{MIN, key, start, start_on, start_with};

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
    let first = crate::auth::bearer_token(&mut api, "bot").await;
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

/// Spring Session, Travetto: a browser logged in as one user that logs in as
/// another moves its session out of the first user's index; the old cookie
/// loads nothing and only the new session is stored.
#[tokio::test]
async fn a_login_as_another_user_leaves_the_first_users_index_over_http() {
    let t = start().await;
    let mut b = t.server.browser();
    b.post("/t/login?user=ada").await;
    let old = b.jar["sid"].clone();
    assert_eq!(t.service.list_for_user("ada").await.unwrap().len(), 1);
    assert_eq!(b.post("/t/login?user=bob").await.status, 204);
    assert!(t.service.list_for_user("ada").await.unwrap().is_empty());
    assert_eq!(t.service.list_for_user("bob").await.unwrap().len(), 1);
    assert_eq!(b.get("/t/me").await.json()["user_id"], "bob");
    let mut replay = t.server.browser();
    replay.jar.insert("sid".into(), old);
    assert_eq!(replay.get("/t/me").await.status, 401);
    // Bob's session, and the marker the move left under ada's old id.
    let listed = t.service.list(session_core::PageRequest::first(10)).await;
    assert_eq!(listed.unwrap().items.len(), 1);
    assert_eq!(t.store.inner().len(), 2);
}

/// Spring Session, Travetto: the same for an API client: a bearer login as
/// another user retires the first user's token and index entry.
#[tokio::test]
async fn a_bearer_login_as_another_user_retires_the_first_users_token() {
    let t = start().await;
    let mut api = t.server.browser();
    let first = crate::auth::bearer_token(&mut api, "ada").await;
    api.bearer = Some(first.clone());
    assert_eq!(api.get("/t/visit").await.body, "1");
    let r = api.post("/t/token?user=bob").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let second = r.json()["token"].as_str().unwrap().to_owned();
    let mut old = t.server.browser();
    old.bearer = Some(first);
    assert_eq!(old.get("/t/me").await.status, 401, "ada's token still live");
    assert!(t.service.list_for_user("ada").await.unwrap().is_empty());
    let mut new = t.server.browser();
    new.bearer = Some(second);
    assert_eq!(new.get("/t/me").await.json()["user_id"], "bob");
    assert_eq!(t.service.list_for_user("bob").await.unwrap().len(), 1);
}

/// Spring Session: a login as another user does not hand the first user's
/// data to the second.
#[tokio::test]
async fn a_login_as_another_user_does_not_carry_the_first_users_data() {
    let t = start().await;
    let mut b = t.server.browser();
    b.post("/t/login?user=ada").await;
    assert_eq!(b.get("/t/visit").await.body, "1");
    b.post("/t/login?user=bob").await;
    assert_eq!(b.get("/t/peek").await.json()["visits"], 0);
}

/// Travetto's `SessionRoutes` from an API client: `PUT /info`, `GET
/// /info/age`, then `GET /logout` deletes the session server-side (no
/// cookie involved): the token loads nothing and no listing holds it.
#[tokio::test]
async fn travettos_routes_over_a_bearer_token_end_with_the_session_deleted() {
    let t = start().await;
    let mut api = t.server.browser();
    let token = crate::auth::bearer_token(&mut api, "roger").await;
    api.bearer = Some(token);
    let r = api
        .send(reqwest::Method::PUT, "/m/session/info", None)
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(api.get("/m/session/info/age").await.body, "20");
    let r = api.get("/m/session/logout").await;
    assert!(r.status < 300, "{}", r.status);
    assert!(r.set_cookies.is_empty(), "{:?}", r.set_cookies);
    assert_eq!(api.get("/m/session/info/age").await.status, 401);
    assert!(t.service.list_for_user("roger").await.unwrap().is_empty());
    assert!(t.store.inner().is_empty());
}

/// Travetto: an expired record is never served over HTTP and is removed: an
/// anonymous session past its initial lifetime starts again from nothing
/// under a new cookie; a logged-in one past its lifetime is a 401 and
/// leaves the user's listing.
#[tokio::test]
async fn an_expired_session_is_never_served_and_its_record_is_removed() {
    let t = start().await;
    let mut b = t.server.browser();
    assert_eq!(b.get("/t/visit").await.body, "1");
    let old = b.jar["sid"].clone();
    let id = t.service.session_id_from_token(&old).unwrap();
    t.clock.advance(6 * MIN);
    let r = b.get("/t/visit").await;
    assert_eq!(r.body, "1", "the expired count was served");
    assert!(t.store.inner().load(&id).await.unwrap().is_none());
    assert_ne!(r.cookie("sid").expect("a new cookie").value, old);
    b.post("/t/login?user=ada").await;
    t.clock.advance(61 * MIN);
    assert_eq!(b.get("/t/me").await.status, 401);
    assert!(t.service.list_for_user("ada").await.unwrap().is_empty());
}

/// Remix: with nothing configured, a logout's clearing cookie carries the
/// defaults the cookie was set with (`Path=/`, `HttpOnly`, `SameSite=Lax`,
/// `Secure`), with `Max-Age=0`.
#[tokio::test]
async fn the_default_clearing_cookie_keeps_the_default_attributes() {
    let app = session_axum::App::builder()
        .store(session_core::MemoryStore::new())
        .secret(session_axum::Key::generate())
        .build()
        .unwrap();
    let server = session_tests::http::TestServer::start(app.into_router()).await;
    let mut b = server.browser();
    assert_eq!(b.post("/t/login?user=ada").await.status, 204);
    let r = b.post("/t/logout").await;
    let c = r.cookie("id").expect("clearing cookie");
    assert_eq!(c.max_age, Some(0));
    for a in ["HttpOnly", "SameSite=Lax", "Path=/", "Secure"] {
        assert!(c.has(a), "{} lacks {a}", c.raw);
    }
}

/// The cookie name is bound into the signature: a token signed with the
/// right key for another cookie name is refused.
#[tokio::test]
async fn a_token_signed_for_another_cookie_name_is_refused() {
    let t = start().await;
    let mut b = t.server.browser();
    b.post("/t/login?user=ada").await;
    let id = t.service.session_id_from_token(&b.jar["sid"]).unwrap();
    let other = session_core::TokenSigner::new(SigningKeys::single(key(1)), "other").sign_id(&id);
    let mut c = t.server.browser();
    c.jar.insert("sid".into(), other);
    assert_eq!(c.get("/t/me").await.status, 401);
}

/// Travetto, hexancore: a bearer session slides like a cookie one: used past
/// the refresh threshold, it outlives its first expiry.
#[tokio::test]
async fn a_bearer_session_slides_past_its_first_expiry() {
    let t = start().await;
    let mut api = t.server.browser();
    let token = crate::auth::bearer_token(&mut api, "bot").await;
    api.bearer = Some(token);
    t.clock.advance(31 * MIN);
    assert_eq!(api.get("/t/me").await.status, 200);
    t.clock.advance(40 * MIN);
    assert_eq!(api.get("/t/me").await.status, 200, "not refreshed");
}

/// authsessions: "most recently used first" over HTTP: a request that only
/// reads an older session moves it to the top of the listing.
#[tokio::test]
async fn a_users_sessions_list_most_recently_used_first_over_http() {
    let t = start().await;
    let mut a = t.server.browser();
    a.post("/t/login?user=ada").await;
    t.clock.advance(MIN);
    let mut b = t.server.browser();
    b.post("/t/login?user=ada").await;
    let id = |br: &session_tests::http::Browser| {
        t.service.session_id_from_token(&br.jar["sid"]).unwrap()
    };
    let order = |v: Vec<session_core::SessionInfo>| v.into_iter().map(|i| i.id).collect::<Vec<_>>();
    assert_eq!(
        order(t.service.list_for_user("ada").await.unwrap()),
        vec![id(&b), id(&a)]
    );
    t.clock.advance(2 * MIN);
    assert_eq!(a.get("/t/me").await.status, 200);
    assert_eq!(
        order(t.service.list_for_user("ada").await.unwrap()),
        vec![id(&a), id(&b)]
    );
}

/// A long-poll endpoint that answers "nothing yet, ask again" with a 408
/// of its own, after setting a flash.
async fn flash_then_request_timeout(mut session: Session<Counters>) -> StatusCode {
    session.flash("error", "ask again").unwrap();
    StatusCode::REQUEST_TIMEOUT
}

/// A handler that logs in and answers a 408 of its own choosing.
async fn login_then_request_timeout(auth: Auth) -> StatusCode {
    auth.login(Binding::user("eve"));
    StatusCode::REQUEST_TIMEOUT
}

/// A handler that logs out and answers a 408 of its own choosing.
async fn logout_then_request_timeout(auth: Auth) -> StatusCode {
    auth.logout().await.unwrap();
    StatusCode::REQUEST_TIMEOUT
}

/// The shared behaviours (a response below 500 persists; persist runs even
/// when the handler returned an error below 500): a 408 the handler itself
/// returns is below 500 and persists its flash, as a 400 does.
#[tokio::test]
async fn a_flash_set_in_a_handlers_own_408_reaches_the_next_request() {
    let t = start_with(SigningKeys::single(key(1)), |b| {
        b.merge(
            Router::new()
                .route("/x/flash-408", post(flash_then_request_timeout))
                .route("/x/take", get(take_flash)),
        )
    })
    .await;
    let mut b = t.server.browser();
    let r = b.post("/x/flash-408").await;
    assert_eq!(r.status, 408);
    assert!(
        r.cookie("sid").is_some(),
        "the session holding the flash was created"
    );
    assert_eq!(b.get("/x/take").await.body, "ask again");
}

/// A login in a handler's own 408 stands, as in any response below 500.
#[tokio::test]
async fn a_login_in_a_handlers_own_408_stands() {
    let t = start_with(SigningKeys::single(key(1)), |b| {
        b.merge(Router::new().route("/x/login-408", post(login_then_request_timeout)))
    })
    .await;
    let mut b = t.server.browser();
    let r = b.post("/x/login-408").await;
    assert_eq!(r.status, 408);
    assert!(r.cookie("sid").is_some(), "{:?}", r.set_cookies);
    assert_eq!(b.get("/t/me").await.status, 200);
    assert_eq!(t.service.list_for_user("eve").await.unwrap().len(), 1);
}

/// A logout in a handler's own 408 clears the cookie, as in any response
/// below 500 (the record is deleted at once either way).
#[tokio::test]
async fn a_logout_in_a_handlers_own_408_clears_the_cookie() {
    let t = start_with(SigningKeys::single(key(1)), |b| {
        b.merge(Router::new().route("/x/logout-408", post(logout_then_request_timeout)))
    })
    .await;
    let mut b = t.server.browser();
    assert_eq!(b.post("/t/login?user=eve").await.status, 204);
    let r = b.post("/x/logout-408").await;
    assert_eq!(r.status, 408);
    assert!(
        t.service.list_for_user("eve").await.unwrap().is_empty(),
        "deleted at once"
    );
    assert_eq!(
        r.cookie("sid").and_then(|c| c.max_age),
        Some(0),
        "the cookie is cleared: {:?}",
        r.set_cookies
    );
}
