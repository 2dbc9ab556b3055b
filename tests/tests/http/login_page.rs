//! `AppBuilder::login_page`: a browser that a route turns away for want of
//! a login is sent to the login page, with the page it asked for as `next`;
//! every other client keeps the 401.

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use http::StatusCode;
use session_axum::{
    App, Auth, BuildError, Guard, Key, Principal, RouteDef, SessionRejection, SigningKeys,
};
use session_core::MemoryStore;
use session_tests::http::{NAVIGATION, Reply, TestServer};

use crate::app::{MIN, TestApp, key, start_with};

async fn whoami(principal: Principal) -> String {
    principal.user_id
}

async fn required(auth: Auth) -> Result<String, SessionRejection> {
    Ok(auth.require()?.user_id)
}

/// A page that asks for a login of the last ten minutes.
async fn recent(auth: Auth) -> Result<String, SessionRejection> {
    Ok(auth
        .require_recent_login(Duration::from_secs(10 * 60))?
        .user_id)
}

#[derive(serde::Deserialize)]
struct Next {
    next: Option<String>,
}

/// A login form's handler: logs in, then sends the browser back to `next`
/// when it is a path on this site, as the README tells an app to.
async fn login_then_back(
    auth: Auth,
    axum::extract::Query(q): axum::extract::Query<Next>,
) -> axum::response::Redirect {
    auth.login(session_axum::Binding::user("ada"));
    let next = q.next.as_deref().and_then(session_axum::local_redirect);
    axum::response::Redirect::to(next.unwrap_or("/"))
}

/// A 401 the handler makes itself: the app's business, not a login's.
async fn own_401() -> StatusCode {
    StatusCode::UNAUTHORIZED
}

fn routes(_: &session_axum::AppContext) -> Result<Vec<RouteDef>, BuildError> {
    let open = |path, handler| RouteDef {
        method: http::Method::GET,
        path,
        guard: Guard::OPEN,
        handler,
    };
    Ok(vec![
        open("/whoami", get(whoami)),
        open("/required", get(required)),
        open("/own-401", get(own_401)),
        open("/recent", get(recent)),
        RouteDef {
            method: http::Method::POST,
            path: "/login-then-back",
            guard: Guard::OPEN,
            handler: axum::routing::post(login_then_back),
        },
    ])
}

static ROUTES: session_axum::ControllerRegistration = session_axum::ControllerRegistration {
    name: "LoginPageRoutes",
    base_path: "/lp",
    routes,
};

async fn start(page: &'static str) -> TestApp {
    start_with(SigningKeys::single(key(1)), move |b| {
        b.controller(&ROUTES).login_page(page)
    })
    .await
}

fn location(r: &Reply) -> &str {
    r.headers
        .get("location")
        .expect("a Location header")
        .to_str()
        .unwrap()
}

/// Whether the response says it depends on how the request asked.
fn varies_by_how_asked(r: &Reply) -> bool {
    r.headers
        .get_all("vary")
        .iter()
        .any(|v| v.to_str().unwrap().contains("accept, sec-fetch-mode"))
}

fn assert_sent_to(r: &Reply, expected: &str) {
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(location(r), expected);
    assert!(varies_by_how_asked(r), "{r:?}");
    assert!(r.headers.get("www-authenticate").is_none(), "{r:?}");
    assert!(r.headers.get("content-type").is_none(), "{r:?}");
    assert!(r.body.is_empty(), "{}", r.body);
}

#[tokio::test]
async fn a_browser_turned_away_for_want_of_a_login_goes_to_the_login_page() {
    let t = start("/login").await;
    let mut b = t.server.browser();
    // A guard, the `Principal` extractor and `Auth::require` alike.
    let r = b.navigate("/t/me?tab=2&q=a%20b").await;
    assert_sent_to(&r, "/login?next=%2Ft%2Fme%3Ftab%3D2%26q%3Da%2520b");
    assert_sent_to(
        &b.navigate("/lp/whoami").await,
        "/login?next=%2Flp%2Fwhoami",
    );
    assert_sent_to(
        &b.navigate("/lp/required").await,
        "/login?next=%2Flp%2Frequired",
    );
    // HEAD as GET; an older browser without Sec-Fetch-Mode.
    let r = b
        .send_with_headers(reqwest::Method::HEAD, "/t/me", None, NAVIGATION)
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(location(&r), "/login?next=%2Ft%2Fme");
    let r = b
        .send_with_headers(
            reqwest::Method::GET,
            "/t/me",
            None,
            &[("accept", "text/html")],
        )
        .await;
    assert_sent_to(&r, "/login?next=%2Ft%2Fme");
    assert!(t.store.writes().is_empty(), "{:?}", t.store.writes());

    // The page it asked for, once logged in.
    b.post("/t/login?user=alice").await;
    let r = b.navigate("/t/me?tab=2").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(b.navigate("/lp/whoami").await.body, "alice");
}

#[tokio::test]
async fn other_clients_and_refusals_keep_their_status() {
    let t = start("/login").await;
    let mut b = t.server.browser();
    let html = ("accept", "text/html");
    type Case<'a> = (&'a str, reqwest::Method, &'a [(&'a str, &'a str)]);
    let cases: [Case; 5] = [
        (
            "a script's fetch",
            reqwest::Method::GET,
            &[html, ("sec-fetch-mode", "cors")],
        ),
        (
            "an API client",
            reqwest::Method::GET,
            &[("accept", "application/json")],
        ),
        ("no Accept", reqwest::Method::GET, &[]),
        ("a form post", reqwest::Method::POST, NAVIGATION),
        (
            "other credentials",
            reqwest::Method::GET,
            &[html, ("authorization", "Basic eDp5")],
        ),
    ];
    for (what, method, headers) in cases {
        let path = if method == reqwest::Method::POST {
            "/t/revoke-others"
        } else {
            "/t/me"
        };
        let r = b.send_with_headers(method, path, None, headers).await;
        assert_eq!(r.status, 401, "{what}: {r:?}");
        assert!(r.headers.get("www-authenticate").is_some(), "{what}");
        assert!(r.headers.get("location").is_none(), "{what}");
        assert!(varies_by_how_asked(&r), "{what}: {r:?}");
    }
    // A bearer client with a token that names no session.
    b.bearer = Some("not-a-token".into());
    let r = b.navigate("/t/me").await;
    assert_eq!(r.status, 401);
    b.bearer = None;

    // A handler's own 401, and a 403: not a want of login.
    let r = b.navigate("/lp/own-401").await;
    assert_eq!(r.status, 401);
    assert!(!varies_by_how_asked(&r), "{r:?}");
    b.post("/t/login?user=bob").await;
    let r = b.navigate("/t/admin").await;
    assert_eq!(r.status, 403, "{r:?}");
    assert!(r.headers.get("location").is_none());
}

/// An app's own realm changes the challenge, not the want of a login.
#[tokio::test]
async fn an_apps_own_realm_is_sent_to_the_login_page_too() {
    let t = start_with(SigningKeys::single(key(1)), |b| {
        b.realm("admin area").login_page("/login")
    })
    .await;
    let mut b = t.server.browser();
    assert_sent_to(&b.navigate("/t/me").await, "/login?next=%2Ft%2Fme");
    let r = b.get("/t/me").await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.headers["www-authenticate"],
        r#"Bearer realm="admin area""#
    );
}

/// Without bearer tokens a 401 carries no challenge; a browser is still
/// sent to the login page, and other clients still get the 401.
#[tokio::test]
async fn an_app_without_bearer_tokens_sends_browsers_to_the_login_page_too() {
    let t = start_with(SigningKeys::single(key(1)), |b| {
        b.controller(&ROUTES).bearer(false).login_page("/login")
    })
    .await;
    let mut b = t.server.browser();
    assert_sent_to(&b.navigate("/t/me").await, "/login?next=%2Ft%2Fme");
    assert_sent_to(
        &b.navigate("/lp/required").await,
        "/login?next=%2Flp%2Frequired",
    );
    let r = b.get("/t/me").await;
    assert_eq!(r.status, 401);
    assert!(r.headers.get("www-authenticate").is_none(), "{r:?}");
    assert!(varies_by_how_asked(&r), "{r:?}");
    // A handler's own 401 is still left alone.
    let r = b.navigate("/lp/own-401").await;
    assert_eq!(r.status, 401);
    assert!(!varies_by_how_asked(&r), "{r:?}");
}

/// The cookie store takes no bearer tokens either.
#[tokio::test]
async fn an_app_on_the_cookie_store_sends_browsers_to_the_login_page_too() {
    let app = App::builder()
        .store(session_core::CookieStore::encrypted())
        .keys(&SigningKeys::single(key(1)))
        .secure(false)
        .controller(&ROUTES)
        .login_page("/login")
        .build()
        .unwrap();
    let server = TestServer::start(app.into_router()).await;
    let mut b = server.browser();
    assert_sent_to(
        &b.navigate("/lp/whoami").await,
        "/login?next=%2Flp%2Fwhoami",
    );
}

/// A login page that itself needs a login (a mistake) answers 401 rather
/// than redirecting to itself forever; other pages still go there.
#[tokio::test]
async fn the_login_page_is_never_redirected_to_itself() {
    let t = start("/t/me?lang=en").await;
    let mut b = t.server.browser();
    assert_eq!(b.navigate("/t/me").await.status, 401);
    assert_sent_to(
        &b.navigate("/lp/whoami").await,
        "/t/me?lang=en&next=%2Flp%2Fwhoami",
    );
}

/// A cookie the app clears on the way (a tampered one here) is still
/// cleared by the redirect.
#[tokio::test]
async fn the_redirect_keeps_the_cookies_the_response_set() {
    let t = start("/login").await;
    let mut b = t.server.browser();
    b.jar.insert("sid".into(), "tampered.value".into());
    let r = b.navigate("/t/me").await;
    assert_sent_to(&r, "/login?next=%2Ft%2Fme");
    let cleared = r.cookie("sid").expect("the tampered cookie cleared");
    assert_eq!(cleared.max_age, Some(0), "{cleared:?}");
    assert!(b.jar.is_empty());
}

/// Served under a prefix that the outer router strips (`nest_service`),
/// `next` is still the path the browser asked for, prefix included.
#[tokio::test]
async fn next_names_the_whole_path_under_a_nesting_router() {
    let app = App::builder()
        .store(MemoryStore::new())
        .secret(Key::generate())
        .secure(false)
        .controller(&ROUTES)
        .login_page("/app/login")
        .build()
        .unwrap();
    let server = TestServer::start(Router::new().nest_service("/app", app.into_router())).await;
    let mut b = server.browser();
    assert_sent_to(
        &b.navigate("/app/lp/whoami?x=1").await,
        "/app/login?next=%2Fapp%2Flp%2Fwhoami%3Fx%3D1",
    );
}

#[test]
fn a_login_page_elsewhere_is_refused_at_build() {
    for bad in [
        "login",
        "//evil.example/login",
        "https://evil.example/login",
        "/login#top",
    ] {
        let error = App::builder()
            .store(MemoryStore::new())
            .secret(Key::generate())
            .login_page(bad)
            .build()
            .map(|_| ())
            .unwrap_err();
        assert!(
            matches!(error, BuildError::LoginPage(_)),
            "{bad}: {error:?}"
        );
        assert!(error.to_string().contains(bad), "{error}");
    }
}

/// `Auth::require_recent_login`: a login older than asked for is sent to
/// log in again (a browser through the login page, others with the 401),
/// though its session goes on; logging in again makes it recent.
#[tokio::test]
async fn an_old_login_is_asked_to_log_in_again() {
    let t = start("/login").await;
    let mut b = t.server.browser();
    assert_eq!(b.get("/lp/recent").await.status, 401, "no login");
    b.post("/t/login?user=ada").await;
    assert_eq!(b.get("/lp/recent").await.body, "ada");
    t.clock.advance(9 * MIN);
    assert_eq!(b.navigate("/lp/recent").await.status, 200);

    t.clock.advance(2 * MIN);
    assert_sent_to(
        &b.navigate("/lp/recent").await,
        "/login?next=%2Flp%2Frecent",
    );
    let r = b.get("/lp/recent").await;
    assert_eq!(r.status, 401);
    assert!(r.headers.get("www-authenticate").is_some());
    assert_eq!(b.get("/t/me").await.status, 200, "the session goes on");

    b.post("/t/login?user=ada").await;
    assert_eq!(b.navigate("/lp/recent").await.body, "ada");
}

/// A page asked for with a query too long for `local_redirect` is named in
/// `next` without it: a `next` the login would refuse would strand the
/// browser on the login's default page.
#[tokio::test]
async fn a_query_too_long_to_go_back_to_is_left_out_of_next() {
    let t = start("/login").await;
    let mut b = t.server.browser();
    let long = "a".repeat(session_axum::MAX_REDIRECT_LEN);
    let r = b.navigate(&format!("/lp/whoami?x={long}")).await;
    assert_sent_to(&r, "/login?next=%2Flp%2Fwhoami");
}

/// `next` reaches a login handler percent-decoded: every spelling of
/// another host, a scheme or a header break is refused after decoding, and
/// the browser goes to `/`; a local path with its query comes back whole.
#[tokio::test]
async fn a_decoded_next_naming_another_host_or_breaking_the_header_is_refused() {
    let t = start("/login").await;
    for foreign in [
        "%2F%2Fevil.example",
        "%2F%2F%2Fevil.example",
        "%2F%5Cevil.example",
        "%5C%5Cevil.example",
        "%2F%09%2Fevil.example",
        "%2F%0A%2Fevil.example",
        "%20%2F%2Fevil.example",
        "%2F%0D%0ASet-Cookie%3A%20x%3D1",
        "https%3A%2F%2Fevil.example",
        "javascript%3Aalert(1)",
        "%2F%E3%80%82evil.example",
        "%2F%00%2Fevil.example",
    ] {
        let mut b = t.server.browser();
        let r = b.post(&format!("/lp/login-then-back?next={foreign}")).await;
        assert_eq!(r.status, 303, "{foreign}: {r:?}");
        assert_eq!(location(&r), "/", "{foreign}");
        assert!(r.cookie("x").is_none(), "{foreign}: {r:?}");
    }
    let mut b = t.server.browser();
    let r = b
        .post("/lp/login-then-back?next=%2Fme%3Ftab%3D2%26x%3D%252F%252Fevil")
        .await;
    assert_eq!(location(&r), "/me?tab=2&x=%2F%2Fevil");
    // Still encoded: a browser takes it as a path on this site.
    let r = b
        .post("/lp/login-then-back?next=%2F%252F%252Fevil.example")
        .await;
    assert_eq!(location(&r), "/%2F%2Fevil.example");
}
