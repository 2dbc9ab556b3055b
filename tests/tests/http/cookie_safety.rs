//! Where the session cookie must never go: back to a session a login moved,
//! into a shared cache, to page scripts; and what a bearer request does to
//! the browser's cookie.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::Method;
use session_axum::{ControllerRegistration, Guard, RouteDef, Session, SigningKeys};
use session_tests::profile::Counters;

use crate::app::{key, start, start_with};

/// Signals that a held read has loaded its session, and holds it until the
/// test lets it go.
static READ_LOADED: tokio::sync::Notify = tokio::sync::Notify::const_new();
static READ_GO: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// A read-only request held between the load and the persist (a page's
/// image or XHR in flight while the user logs in).
async fn peek_held(session: Session<Counters>) -> Json<u64> {
    let visits = session.visits;
    drop(session);
    READ_LOADED.notify_one();
    READ_GO.notified().await;
    Json(visits)
}

/// A page the handler marks as publicly cacheable, which also counts visits.
async fn public_visit(mut session: Session<Counters>) -> Response {
    session.update(|c| c.visits += 1);
    let visits = session.visits;
    drop(session);
    let mut response = Json(visits).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=600"),
    );
    response
}

/// A logout followed by an API login in the same request: a browser
/// signing out and taking a token for a script, say.
async fn logout_then_token(auth: session_axum::Auth) -> Response {
    if let Err(rejection) = auth.logout().await {
        return rejection.into_response();
    }
    auth.login_bearer(session_axum::Binding::user("bot"))
        .into_response()
}

/// A cookie login answering with `Auth::login`'s result, as a single-page
/// app's `fetch` login might.
async fn login_json(auth: session_axum::Auth) -> session_axum::LoggedIn {
    auth.login(session_axum::Binding::user("ada"))
}

/// A page assembled by an ESI surrogate (`Surrogate-Control: content=..`),
/// which also counts visits.
async fn esi_visit(mut session: Session<Counters>) -> Response {
    session.update(|c| c.visits += 1);
    let visits = session.visits;
    drop(session);
    let mut response = Json(visits).into_response();
    response.headers_mut().insert(
        "surrogate-control",
        HeaderValue::from_static("content=\"ESI/1.0\", max-age=600"),
    );
    response
}

/// A page that reads the session and says how long anyone may cache it:
/// the app's own choice.
async fn cached_peek(session: Session<Counters>) -> Response {
    let mut response = Json(session.visits).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    response
}

/// A page that reads the session and varies by language as well.
async fn localized_peek(session: Session<Counters>) -> Response {
    let mut response = Json(session.visits).into_response();
    response
        .headers_mut()
        .insert(header::VARY, HeaderValue::from_static("accept-language"));
    response
}

/// A page behind a guard that reads nothing itself.
async fn members_only() -> &'static str {
    "members"
}

fn routes(_: &session_axum::AppContext) -> Result<Vec<RouteDef>, session_axum::BuildError> {
    Ok(vec![
        RouteDef {
            method: Method::GET,
            path: "/cached-peek",
            guard: Guard::OPEN,
            handler: get(cached_peek),
        },
        RouteDef {
            method: Method::GET,
            path: "/localized-peek",
            guard: Guard::OPEN,
            handler: get(localized_peek),
        },
        RouteDef {
            method: Method::GET,
            path: "/members",
            guard: Guard::AUTHENTICATED,
            handler: get(members_only),
        },
        RouteDef {
            method: Method::GET,
            path: "/esi-visit",
            guard: Guard::OPEN,
            handler: get(esi_visit),
        },
        RouteDef {
            method: Method::GET,
            path: "/peek-held",
            guard: Guard::OPEN,
            handler: get(peek_held),
        },
        RouteDef {
            method: Method::GET,
            path: "/public-visit",
            guard: Guard::OPEN,
            handler: get(public_visit),
        },
        RouteDef {
            method: Method::POST,
            path: "/logout-then-token",
            guard: Guard::OPEN,
            handler: axum::routing::post(logout_then_token),
        },
        RouteDef {
            method: Method::POST,
            path: "/login-json",
            guard: Guard::OPEN,
            handler: axum::routing::post(login_json),
        },
    ])
}

session_axum::register_controller!(ControllerRegistration {
    name: "CookieSafetyRoutes",
    base_path: "/safety",
    routes,
});

/// After a key rotation every cookie is signed by the old key, and a read
/// re-issues it under the new one. A read that loaded the session before a
/// login of the same browser rotated the id must not re-issue the *old* id
/// once the login deleted it: arriving after the login's response, that
/// cookie would log the user out again.
#[tokio::test]
async fn an_old_key_read_in_flight_during_a_login_does_not_put_the_dead_id_back() {
    let t = start_with(SigningKeys::new([key(2), key(1)]).unwrap(), |b| b).await;
    let mut b = t.server.browser();
    b.get("/t/visit").await;
    // The browser's cookie is from before the key rotation: signed by key 1.
    let id = t.service.session_id_from_token(&b.jar["sid"]).unwrap();
    let old_key = session_core::TokenSigner::new(SigningKeys::single(key(1)), "sid");
    b.jar.insert("sid".into(), old_key.sign_id(&id));

    let mut in_flight = t.server.browser();
    in_flight.jar = b.jar.clone();
    let held = tokio::spawn(async move { in_flight.get("/safety/peek-held").await });
    READ_LOADED.notified().await;
    let login = b.post("/t/login?user=ada").await;
    assert_eq!(login.status, 204);
    assert_eq!(b.get("/t/me").await.status, 200, "logged in");
    READ_GO.notify_one();
    let held = held.await.unwrap();
    assert_eq!(held.status, 200, "{}", held.body);

    // The held response reaches the browser after the login's.
    for c in &held.set_cookies {
        b.jar.insert(c.name.clone(), c.value.clone());
    }
    assert_eq!(
        b.get("/t/me").await.status,
        200,
        "logged out by the read's re-issued cookie for the session the login deleted: {:?}",
        held.set_cookies
    );
}

/// A response that starts a session carries its token in `Set-Cookie`. When
/// the handler marked the page `Cache-Control: public`, a shared cache (CDN,
/// proxy) may store that response, cookie included, and hand the same
/// session to every later visitor. The session layer adds the cookie, so it
/// must also keep the response out of shared caches (`private`/`no-store`),
/// as Django and Rails do when they set a session cookie.
#[tokio::test]
async fn a_response_setting_the_session_cookie_is_not_left_publicly_cacheable() {
    let t = start().await;
    let mut b = t.server.browser();
    let r = b.get("/safety/public-visit").await;
    assert_eq!(r.status, 200);
    assert!(r.cookie("sid").is_some(), "a new session's cookie");
    let cache_control = r
        .headers
        .get(header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        !cache_control.contains("public")
            && (cache_control.contains("private") || cache_control.contains("no-store")),
        "Set-Cookie with a session token in a response marked `{cache_control}`"
    );
}

/// README: "A response that sets or clears the cookie is made
/// `Cache-Control: private`". A clearing `Set-Cookie` kept by a shared cache
/// would log out every later visitor it is served to.
#[tokio::test]
async fn a_response_clearing_the_session_cookie_is_not_left_publicly_cacheable() {
    async fn public_peek(session: Session<Counters>) -> Response {
        let visits = session.visits;
        drop(session);
        let mut response = Json(visits).into_response();
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, s-maxage=600"),
        );
        response
    }
    let t = start_with(SigningKeys::single(key(1)), |b| {
        b.merge(axum::Router::new().route("/x/public-peek", get(public_peek)))
    })
    .await;
    let mut b = t.server.browser();
    b.jar.insert("sid".into(), "tampered.value".into());
    let r = b.get("/x/public-peek").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.cookie("sid").and_then(|c| c.max_age), Some(0));
    assert_eq!(r.headers[header::CACHE_CONTROL], "private");
    b.post("/t/login?user=ada").await;
    let r = b.post("/t/logout").await;
    assert_eq!(r.cookie("sid").and_then(|c| c.max_age), Some(0));
    assert_eq!(r.headers[header::CACHE_CONTROL], "private");
}

/// `login_bearer` in a request that came with a tampered cookie clears the
/// cookie, as every other response does.
#[tokio::test]
async fn a_bearer_login_with_a_tampered_cookie_still_clears_the_cookie() {
    let t = start().await;
    let mut b = t.server.browser();
    b.jar.insert("sid".into(), "tampered.value".into());
    let r = b.get("/t/peek").await;
    assert_eq!(
        r.cookie("sid").and_then(|c| c.max_age),
        Some(0),
        "a read clears it"
    );
    b.jar.insert("sid".into(), "tampered.value".into());
    let r = b.post("/t/token?user=bot").await;
    assert_eq!(r.status, StatusCode::OK.as_u16());
    assert_eq!(
        r.cookie("sid").and_then(|c| c.max_age),
        Some(0),
        "the bearer login left the tampered cookie: {:?}",
        r.set_cookies
    );
}

/// The session cookie is `HttpOnly` so that page scripts never see the
/// session token. A cookie login whose handler answers with
/// `Auth::login`'s `LoggedIn` (it implements `IntoResponse`) must not put
/// that token in the body, where any script on the page reads it.
#[tokio::test]
async fn a_cookie_login_does_not_hand_the_httponly_token_to_page_scripts() {
    let t = start().await;
    let mut b = t.server.browser();
    let r = b.post("/safety/login-json").await;
    assert_eq!(r.status, 204, "{}", r.body);
    let cookie = r.cookie("sid").expect("a cookie login sets the cookie");
    assert!(cookie.has("HttpOnly"));
    assert!(
        !r.body.contains(&cookie.value),
        "the HttpOnly cookie's token is in the body: {}",
        r.body
    );
    assert_eq!(b.get("/t/me").await.status, 200, "logged in by the cookie");
}

/// An API client's bearer token signed by an older key can never be
/// re-issued (bearer clients get no cookie), so it stays old-key for its
/// whole life. Its reads must stay write-free like any other read: the
/// old-key re-issue's "confirm the session first" save must not run for
/// a cookie that is never sent, on every single request, even with
/// `no_last_seen_on_reads()`.
#[tokio::test]
async fn reads_with_an_old_key_bearer_token_write_nothing() {
    let t = start_with(SigningKeys::new([key(2), key(1)]).unwrap(), |b| {
        b.no_last_seen_on_reads()
    })
    .await;
    let mut api = t.server.browser();
    let r = api.post("/t/token?user=bot").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let token = r.json()["token"].as_str().unwrap().to_owned();
    let id = t.service.session_id_from_token(&token).unwrap();
    // Handed out before the key rotation: signed by key 1.
    let old_key = session_core::TokenSigner::new(SigningKeys::single(key(1)), "sid");
    api.bearer = Some(old_key.sign_id(&id));
    t.store.clear();
    for _ in 0..3 {
        let r = api.get("/t/me").await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.set_cookies.is_empty(), "{:?}", r.set_cookies);
    }
    let writes = t.store.writes();
    assert!(
        writes.is_empty(),
        "{} store writes for 3 bearer reads: {writes:?}",
        writes.len()
    );
}

/// A browser that logs out and then takes a bearer token in the same
/// request: the logout deletes its cookie session, so its cookie must be
/// cleared (`Max-Age=0`) as on any logout; `login_bearer` leaving the
/// browser's cookie session alone cannot mean leaving a deleted one's
/// cookie behind.
#[tokio::test]
async fn a_logout_then_bearer_login_clears_the_browsers_cookie() {
    let t = start().await;
    let mut b = t.server.browser();
    assert_eq!(b.post("/t/login?user=ada").await.status, 204);
    let id = t.service.session_id_from_token(&b.jar["sid"]).unwrap();
    let r = b.post("/safety/logout-then-token").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.json()["token"].is_string(), "{}", r.body);
    assert!(
        t.service.record(&id).await.unwrap().is_none(),
        "the cookie session was logged out"
    );
    assert_eq!(
        r.cookie("sid").and_then(|c| c.max_age),
        Some(0),
        "the logged-out session's cookie was left in place: {:?}",
        r.set_cookies
    );
}

/// `Surrogate-Control` carries more than freshness: `content="ESI/1.0"`
/// tells the surrogate to assemble the page. Keeping a cookie response out
/// of the CDN's cache must not also switch ESI off (raw `<esi:include>`
/// tags would reach the browser): only the caching directives should go.
#[tokio::test]
async fn keeping_a_cookie_response_out_of_a_surrogate_keeps_its_esi_processing() {
    let t = start().await;
    let mut b = t.server.browser();
    let r = b.get("/safety/esi-visit").await;
    assert_eq!(r.status, 200);
    assert!(r.cookie("sid").is_some(), "a new session's cookie");
    let surrogate = r
        .headers
        .get("surrogate-control")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        surrogate.contains("no-store"),
        "still cacheable by the surrogate: `{surrogate}`"
    );
    assert!(
        surrogate.contains("content=\"ESI/1.0\""),
        "the surrogate's ESI processing was dropped: `{surrogate}`"
    );
}

/// A response handing out a session token in its body must stay out of
/// shared caches at least as surely as one setting the session cookie: a
/// CDN storing it would hand one client's bearer token to the next. The
/// session layer makes a cookie response's `CDN-Cache-Control` private and
/// its `Surrogate-Control` `no-store` (README, cookie defaults), since a
/// CDN reading those ignores `Cache-Control`; a token response gets only
/// `Cache-Control: no-store`, so the same CDN directives from the app
/// (a site-wide CDN policy, say) leave the token cacheable by the CDN.
#[tokio::test]
async fn a_bearer_token_response_is_kept_out_of_cdn_caches_like_a_cookie_response() {
    const CDN: [(&str, &str); 2] = [
        ("cdn-cache-control", "public, max-age=600"),
        ("surrogate-control", "max-age=600"),
    ];
    async fn cookie_login(auth: session_axum::Auth) -> Response {
        (
            axum::response::AppendHeaders(CDN),
            auth.login(session_axum::Binding::user("ada")),
        )
            .into_response()
    }
    async fn token_login(auth: session_axum::Auth) -> Response {
        match auth.login_bearer(session_axum::Binding::user("bot")) {
            Ok(logged_in) => (axum::response::AppendHeaders(CDN), logged_in).into_response(),
            Err(rejection) => rejection.into_response(),
        }
    }
    let t = start_with(SigningKeys::single(key(1)), |b| {
        b.merge(
            axum::Router::new()
                .route("/x/cookie-login", axum::routing::post(cookie_login))
                .route("/x/token-login", axum::routing::post(token_login)),
        )
    })
    .await;
    let header = |r: &session_tests::http::Reply, name: &str| {
        r.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let kept_out = |r: &session_tests::http::Reply| {
        let cdn = header(r, "cdn-cache-control");
        let surrogate = header(r, "surrogate-control");
        !cdn.contains("public")
            && (cdn.contains("private") || cdn.contains("no-store"))
            && surrogate.contains("no-store")
    };

    // The cookie login: the session layer keeps it out of the CDN.
    let r = t.server.browser().post("/x/cookie-login").await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert!(r.cookie("sid").is_some());
    assert!(kept_out(&r), "{:?}", r.headers);

    // The token login, from a fresh client and from a bearer client.
    let mut api = t.server.browser();
    let r = api.post("/x/token-login").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let token = r.json()["token"].as_str().expect("a token").to_owned();
    assert!(
        kept_out(&r),
        "a response carrying a bearer token is left cacheable by a CDN: \
         cdn-cache-control `{}`, surrogate-control `{}`",
        header(&r, "cdn-cache-control"),
        header(&r, "surrogate-control")
    );
    api.bearer = Some(token);
    let r = api.post("/x/token-login").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.json()["token"].is_string());
    assert!(
        kept_out(&r),
        "a bearer client's new token is left cacheable by a CDN: \
         cdn-cache-control `{}`, surrogate-control `{}`",
        header(&r, "cdn-cache-control"),
        header(&r, "surrogate-control")
    );
}

fn cache_control(r: &session_tests::http::Reply) -> Option<&str> {
    r.headers
        .get(header::CACHE_CONTROL)
        .map(|v| v.to_str().unwrap())
}

/// A page that shows the session's data (a user's account page) without
/// changing the cookie would, stored by a shared cache, be shown to the
/// next visitor: it is made `private` unless the app said otherwise. A page
/// that reads no session is left alone.
#[tokio::test]
async fn a_response_that_read_the_session_is_private_unless_the_app_said_otherwise() {
    let t = start().await;
    let mut b = t.server.browser();
    b.get("/t/visit").await;
    let r = b.get("/t/peek").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.set_cookies.is_empty(), "the cookie is unchanged: {r:?}");
    assert_eq!(cache_control(&r), Some("private"));
    // Without a session too: the page shows what a visitor without one sees.
    let r = t.server.browser().get("/t/peek").await;
    assert_eq!(cache_control(&r), Some("private"));
    // A guard reads the principal: its 401, and the page it lets through.
    assert_eq!(
        cache_control(&t.server.browser().get("/safety/members").await),
        Some("private")
    );
    b.post("/t/login?user=alice").await;
    let r = b.get("/safety/members").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(cache_control(&r), Some("private"));
    // The app's own directives stand, and a page that reads no session has none.
    assert_eq!(
        cache_control(&b.get("/safety/cached-peek").await),
        Some("public, max-age=60")
    );
    assert_eq!(cache_control(&b.get("/plain").await), None);
}

fn vary(r: &session_tests::http::Reply) -> Vec<&str> {
    let values = r.headers.get_all(header::VARY).iter();
    values.map(|v| v.to_str().unwrap()).collect()
}

/// A response that depends on the session says `Vary: Cookie`, as Django's
/// session middleware does: a cache allowed to keep it (the browser's own,
/// or a shared one the app's `public` allowed) must not serve it to a
/// request with another cookie, such as the next user of the same browser.
/// The app's own `Vary` is kept; a page that reads no session has none.
#[tokio::test]
async fn a_response_that_depends_on_the_session_varies_by_cookie() {
    let t = start().await;
    let mut b = t.server.browser();
    let r = b.get("/t/visit").await;
    assert!(r.cookie("sid").is_some(), "a new session: {r:?}");
    assert_eq!(vary(&r), ["Cookie"], "a response setting the cookie");
    let r = b.get("/t/peek").await;
    assert!(r.set_cookies.is_empty(), "the cookie is unchanged: {r:?}");
    assert_eq!(vary(&r), ["Cookie"], "a read with a session");
    let r = t.server.browser().get("/t/peek").await;
    assert_eq!(vary(&r), ["Cookie"], "a read without a session");
    assert_eq!(
        vary(&t.server.browser().get("/safety/members").await),
        ["Cookie"],
        "a guard's 401"
    );
    assert_eq!(
        vary(&b.get("/safety/cached-peek").await),
        ["Cookie"],
        "a page the app made public"
    );
    assert_eq!(
        vary(&b.get("/safety/localized-peek").await),
        ["accept-language", "Cookie"]
    );
    assert!(
        vary(&b.get("/plain").await).is_empty(),
        "a page without the session"
    );
}
