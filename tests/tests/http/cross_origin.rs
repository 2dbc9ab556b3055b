//! Cross-origin writes from browsers are refused before their session is
//! loaded (`AppBuilder::cross_origin_protection`, on by default), unless
//! the origin is trusted; reads and clients that are no browser pass.

use reqwest::Method;
use session_axum::SigningKeys;
use session_tests::http::Reply;

use crate::app::{TestApp, key, start, start_with};

const CROSS_SITE: &[(&str, &str)] = &[
    ("sec-fetch-site", "cross-site"),
    ("origin", "https://evil.example"),
];

fn assert_refused(r: &Reply) {
    assert_eq!(r.status, 403, "{r:?}");
    assert_eq!(r.json()["error"], "cross-origin request refused");
    assert!(r.set_cookies.is_empty(), "{r:?}");
}

/// Login CSRF: another site's form would log the browser in to the
/// attacker's account; `SameSite=Lax` does not stop it (the form's `POST`
/// needs no cookie).
#[tokio::test]
async fn another_sites_form_cannot_log_the_browser_in() {
    let t = start().await;
    let mut b = t.server.browser();
    let r = b
        .send_with_headers(Method::POST, "/t/login?user=mallory", None, CROSS_SITE)
        .await;
    assert_refused(&r);
    assert!(t.store.writes().is_empty(), "{:?}", t.store.writes());
    // A sibling subdomain is the same site, but another origin.
    let same_site = [("sec-fetch-site", "same-site")];
    let r = b
        .send_with_headers(Method::POST, "/t/login?user=mallory", None, &same_site)
        .await;
    assert_refused(&r);
    // A browser from before Fetch Metadata: its `Origin` names another host.
    let old = [("origin", "https://evil.example")];
    let r = b
        .send_with_headers(Method::POST, "/t/login?user=mallory", None, &old)
        .await;
    assert_refused(&r);
    assert!(t.store.writes().is_empty(), "{:?}", t.store.writes());
}

#[tokio::test]
async fn a_logged_in_browsers_session_is_neither_read_nor_changed_by_a_refused_write() {
    let t = start().await;
    let mut b = t.server.browser();
    let same_origin = [("sec-fetch-site", "same-origin")];
    let r = b
        .send_with_headers(Method::POST, "/t/login?user=alice", None, &same_origin)
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    let calls = t.store.ops().len();
    let r = b
        .send_with_headers(Method::POST, "/t/logout", None, CROSS_SITE)
        .await;
    assert_refused(&r);
    assert_eq!(t.store.ops().len(), calls, "no store call");
    assert_eq!(b.get("/t/me").await.json()["user_id"], "alice");
    // The user's own logout goes through.
    let r = b
        .send_with_headers(Method::POST, "/t/logout", None, &same_origin)
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(b.get("/t/me").await.status, 401);
}

#[tokio::test]
async fn reads_same_origin_writes_and_other_clients_pass() {
    let t = start().await;
    let mut b = t.server.browser();
    // A cross-site read (a link followed): the page loads.
    let r = b
        .send_with_headers(Method::GET, "/t/visit", None, CROSS_SITE)
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    // Typed into the address bar, or an old browser on this very host.
    let own_host = format!("http://{}", t.server.addr);
    for headers in [
        vec![("sec-fetch-site", "none")],
        vec![("origin", own_host.as_str())],
    ] {
        let r = b
            .send_with_headers(Method::POST, "/t/login?user=alice", None, &headers)
            .await;
        assert_eq!(r.status, 204, "{headers:?}: {r:?}");
    }
    // curl, a server: neither header.
    let mut client = t.server.browser();
    assert_eq!(client.post("/t/login?user=bob").await.status, 204);
    // A bearer client's script: a form cannot send `Authorization`.
    let token = client.post("/t/token?user=bob").await;
    assert_eq!(token.status, 200, "{token:?}");
    let mut api = t.server.browser();
    api.bearer = Some(token.json()["token"].as_str().unwrap().to_owned());
    let r = api
        .send_with_headers(Method::POST, "/t/logout", None, CROSS_SITE)
        .await;
    assert_eq!(r.status, 204, "{r:?}");
}

/// Behind a proxy's `auth_basic`, browsers add `Authorization: Basic` to
/// every request, another site's form included; the session still comes
/// from the cookie then, so the write is refused.
#[tokio::test]
async fn basic_credentials_a_browser_adds_pass_no_cross_site_write() {
    let t = start().await;
    let mut b = t.server.browser();
    let headers = [
        ("sec-fetch-site", "cross-site"),
        ("origin", "https://evil.example"),
        ("authorization", "Basic c3RhZmY6c3RhZmY="),
    ];
    let r = b
        .send_with_headers(Method::POST, "/t/login?user=mallory", None, &headers)
        .await;
    assert_refused(&r);
    assert!(t.store.writes().is_empty(), "{:?}", t.store.writes());
}

/// A post from an identity provider's page, some with `Origin: null`.
async fn from_provider(b: &mut session_tests::http::Browser, path: &str) -> Reply {
    let headers = [("sec-fetch-site", "cross-site"), ("origin", "null")];
    b.send_with_headers(Method::POST, path, None, &headers)
        .await
}

/// An identity provider's callback posts from the provider's page: its
/// path alone is exempt.
#[tokio::test]
async fn an_exempt_path_takes_a_cross_site_post_and_others_stay_refused() {
    let t = start_with(SigningKeys::single(key(1)), |b| {
        b.cross_origin_exempt("/t/login")
    })
    .await;
    let mut b = t.server.browser();
    let r = from_provider(&mut b, "/t/login?user=alice").await;
    assert_eq!(r.status, 204, "{r:?}");
    assert_refused(&from_provider(&mut b, "/t/logout").await);
    assert_eq!(b.get("/t/me").await.json()["user_id"], "alice");
}

/// Under `Router::nest` the exemption names the path the provider posts
/// to, prefix included, as `login_page` does. An exemption naming the path
/// inside the nest, as one had to before, is refused with a warning that
/// says why.
#[tokio::test]
async fn under_a_nest_the_exempt_path_is_the_full_one() {
    let nested = |exempt: &str| {
        let app = session_axum::App::builder()
            .store(session_core::MemoryStore::new())
            .keys(&SigningKeys::single(key(1)))
            .secure(false)
            .cookie_name("sid")
            .cross_origin_exempt(exempt)
            .build()
            .expect("app builds");
        axum::Router::new().nest("/api", app.into_router())
    };
    let server = session_tests::http::TestServer::start(nested("/api/t/login")).await;
    let mut b = server.browser();
    let r = from_provider(&mut b, "/api/t/login?user=alice").await;
    assert_eq!(r.status, 204, "{r:?}");
    assert_refused(&from_provider(&mut b, "/api/t/logout").await);
    assert_eq!(b.get("/api/t/me").await.json()["user_id"], "alice");

    let server = session_tests::http::TestServer::start(nested("/t/login")).await;
    let (log, _guard) = session_tests::logs::capture();
    let r = from_provider(&mut server.browser(), "/api/t/login?user=alice").await;
    assert_refused(&r);
    let text = log.text();
    assert!(
        text.contains("WARN") && text.contains("exemption names the path inside Router::nest"),
        "{text}"
    );
}

/// The warning about an exemption that names the path inside a nest is
/// for the operator, and any client can send a cross-site header: a flood
/// of such writes logs it once a minute at most, as the refusals' own line.
#[tokio::test]
async fn a_flood_of_writes_to_a_misplaced_exemption_warns_once() {
    let app = session_axum::App::builder()
        .store(session_core::MemoryStore::new())
        .keys(&SigningKeys::single(key(1)))
        .secure(false)
        .cookie_name("sid")
        .cross_origin_exempt("/t/login")
        .build()
        .expect("app builds");
    let router = axum::Router::new().nest("/api", app.into_router());
    let server = session_tests::http::TestServer::start(router).await;
    let (log, _guard) = session_tests::logs::capture();
    for _ in 0..30 {
        assert_refused(&from_provider(&mut server.browser(), "/api/t/login?user=alice").await);
    }
    let text = log.text();
    let warnings = text
        .lines()
        .filter(|l| {
            l.contains("WARN") && l.contains("exemption names the path inside Router::nest")
        })
        .count();
    assert_eq!(warnings, 1, "{text}");
}

async fn start_trusting(origin: &'static str) -> TestApp {
    start_with(SigningKeys::single(key(1)), move |b| {
        b.trusted_origin(origin)
    })
    .await
}

#[tokio::test]
async fn a_trusted_origin_may_write_and_the_check_can_be_turned_off() {
    let t = start_trusting("https://admin.example").await;
    let mut b = t.server.browser();
    let trusted = [
        ("sec-fetch-site", "cross-site"),
        ("origin", "https://admin.example"),
    ];
    let r = b
        .send_with_headers(Method::POST, "/t/login?user=alice", None, &trusted)
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    let r = b
        .send_with_headers(Method::POST, "/t/logout", None, CROSS_SITE)
        .await;
    assert_refused(&r);

    let t = start_with(SigningKeys::single(key(1)), |b| {
        b.cross_origin_protection(false)
    })
    .await;
    let mut b = t.server.browser();
    let r = b
        .send_with_headers(Method::POST, "/t/login?user=alice", None, CROSS_SITE)
        .await;
    assert_eq!(r.status, 204, "{r:?}");
}

/// The refusal comes before every interceptor: one ordered before the auth
/// interceptor (which may answer a request itself, or write somewhere)
/// never receives a forged write.
#[tokio::test]
async fn no_interceptor_receives_a_refused_write() {
    let t = start().await;
    let mut b = t.server.browser();
    let headers = [CROSS_SITE, &[("x-outer", "1")]].concat();
    let r = b
        .send_with_headers(Method::POST, "/t/login?user=mallory", None, &headers)
        .await;
    assert_refused(&r);
    assert!(
        r.headers.get("x-outer-ran").is_none(),
        "the outer interceptor received the refused request: {r:?}"
    );
    // It does receive the requests that pass.
    let same_origin = [("sec-fetch-site", "same-origin"), ("x-outer", "1")];
    let r = b
        .send_with_headers(Method::POST, "/t/login?user=alice", None, &same_origin)
        .await;
    assert_eq!(
        r.headers.get("x-outer-ran").map(|v| v.as_bytes()),
        Some(&b"1"[..])
    );
}

/// Another site can make its visitors' browsers send refused writes on
/// every page view: each is a `debug` line, and one `info` line a minute
/// at most counts them and names the latest origin and path.
#[tokio::test]
async fn a_flood_of_refused_writes_logs_one_info_line_with_the_count() {
    let t = start().await;
    let mut b = t.server.browser();
    let (log, _guard) = session_tests::logs::capture();
    for user in ["a", "b", "c", "d"] {
        let r = b
            .send_with_headers(
                Method::POST,
                &format!("/t/login?user={user}"),
                None,
                CROSS_SITE,
            )
            .await;
        assert_refused(&r);
    }
    let text = log.text();
    let info: Vec<&str> = text.lines().filter(|l| l.contains(" INFO ")).collect();
    assert_eq!(info.len(), 1, "{text}");
    assert!(
        info[0].contains("refused=1")
            && info[0].contains("https://evil.example")
            && info[0].contains("/t/login")
            && info[0].contains("AppBuilder::trusted_origin"),
        "{text}"
    );
    let debug = text
        .lines()
        .filter(|l| l.contains("DEBUG") && l.contains("refused a cross-origin request"))
        .count();
    assert_eq!(debug, 4, "{text}");
}
