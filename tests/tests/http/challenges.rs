//! `WWW-Authenticate` on the framework's 401 and 403 (RFC 9110 §11.6.1,
//! RFC 6750 §3): a Bearer challenge where the app takes bearer tokens, none
//! where it takes cookies only.

use std::time::Duration;

use axum::routing::get;
use session_axum::{Auth, Guard, Principal, RouteDef, SessionRejection, SigningKeys};
use session_core::SessionId;
use session_tests::http::Reply;

use crate::app::{TestApp, key, start, start_with};
use crate::auth::bearer_token;

const CHALLENGE: &str = r#"Bearer realm="session""#;
const INVALID_TOKEN: &str = r#"Bearer realm="session", error="invalid_token""#;
const INSUFFICIENT_SCOPE: &str = r#"Bearer realm="session", error="insufficient_scope""#;

/// The response's one `WWW-Authenticate` value, if any.
fn challenge(r: &Reply) -> Option<&str> {
    let mut values = r.headers.get_all("www-authenticate").iter();
    let first = values.next().map(|v| v.to_str().expect("ASCII challenge"));
    assert!(values.next().is_none(), "one challenge: {:?}", r.headers);
    first
}

/// A principal asked for outside any guard: by the `Principal` extractor,
/// and by `Auth::require` in the handler.
async fn whoami(principal: Principal) -> String {
    principal.user_id
}

async fn required(auth: Auth) -> Result<String, SessionRejection> {
    Ok(auth.require()?.user_id)
}

fn open_routes(_: &session_axum::AppContext) -> Result<Vec<RouteDef>, session_axum::BuildError> {
    Ok(vec![
        RouteDef {
            method: http::Method::GET,
            path: "/whoami",
            guard: Guard::OPEN,
            handler: get(whoami),
        },
        RouteDef {
            method: http::Method::GET,
            path: "/required",
            guard: Guard::OPEN,
            handler: get(required),
        },
    ])
}

static OPEN: session_axum::ControllerRegistration = session_axum::ControllerRegistration {
    name: "Challenges",
    base_path: "/challenge",
    routes: open_routes,
};

async fn start_open(bearer: bool) -> TestApp {
    start_with(SigningKeys::single(key(1)), move |b| {
        b.controller(&OPEN).bearer(bearer)
    })
    .await
}

#[tokio::test]
async fn a_401_without_credentials_challenges_for_a_bearer_token() {
    let t = start_open(true).await;
    let mut b = t.server.browser();
    for path in [
        "/t/me",
        "/t/admin",
        "/challenge/whoami",
        "/challenge/required",
    ] {
        let r = b.get(path).await;
        assert_eq!(r.status, 401, "{path}");
        assert_eq!(challenge(&r), Some(CHALLENGE), "{path}");
        assert_eq!(r.json()["error"], "authentication required", "{path}");
    }
    // A cookie that names no session, or another scheme (a proxy's `Basic`),
    // is not a bearer attempt: the plain challenge, no error code.
    b.jar.insert("sid".into(), "tampered".into());
    assert_eq!(challenge(&b.get("/t/me").await), Some(CHALLENGE));
    let r = session_tests::http::client()
        .get(t.server.url("/t/me"))
        .basic_auth("proxy", Some("secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], CHALLENGE);
}

#[tokio::test]
async fn a_refused_bearer_token_is_answered_invalid_token() {
    let t = start_open(true).await;
    let mut api = t.server.browser();
    let token = bearer_token(&mut t.server.browser(), "bot").await;
    let mut tampered = token.clone().into_bytes();
    let last = tampered.last_mut().unwrap();
    *last = if *last == b'A' { b'B' } else { b'A' };
    let unknown = t.service.token_for(&SessionId::generate());
    for (what, presented) in [
        ("garbage", "garbage".to_owned()),
        ("tampered", String::from_utf8(tampered).unwrap()),
        ("unknown", unknown),
    ] {
        api.bearer = Some(presented);
        for path in [
            "/t/me",
            "/t/admin",
            "/challenge/whoami",
            "/challenge/required",
        ] {
            let r = api.get(path).await;
            assert_eq!(r.status, 401, "{what} {path}");
            assert_eq!(challenge(&r), Some(INVALID_TOKEN), "{what} {path}");
            assert_eq!(r.json()["error"], "authentication required");
        }
        // A write with it: refused by the session layer, same challenge.
        let r = api.get("/t/visit").await;
        assert_eq!(r.status, 401, "{what}");
        assert_eq!(challenge(&r), Some(INVALID_TOKEN), "{what}");
    }

    // Accepted: no challenge. Revoked (logged out): refused.
    api.bearer = Some(token);
    let r = api.get("/t/me").await;
    assert_eq!(r.status, 200);
    assert_eq!(challenge(&r), None);
    assert_eq!(api.post("/t/logout").await.status, 204);
    let r = api.get("/t/me").await;
    assert_eq!(r.status, 401);
    assert_eq!(challenge(&r), Some(INVALID_TOKEN), "revoked");

    // Expired.
    let mut late = t.server.browser();
    late.bearer = Some(bearer_token(&mut t.server.browser(), "bot").await);
    assert_eq!(late.get("/t/me").await.status, 200);
    t.clock.advance(Duration::from_secs(2 * 3600));
    let r = late.get("/t/me").await;
    assert_eq!(r.status, 401);
    assert_eq!(challenge(&r), Some(INVALID_TOKEN), "expired");
}

#[tokio::test]
async fn a_bearer_request_lacking_a_permission_is_answered_insufficient_scope() {
    let t = start().await;
    let mut api = t.server.browser();
    api.bearer = Some(bearer_token(&mut t.server.browser(), "bot").await);
    let r = api.get("/t/admin").await;
    assert_eq!(r.status, 403);
    assert_eq!(challenge(&r), Some(INSUFFICIENT_SCOPE));
    assert_eq!(r.json()["error"], "permission denied");
}

#[tokio::test]
async fn a_cookie_request_lacking_a_permission_gets_no_bearer_error() {
    let t = start().await;
    let mut b = t.server.browser();
    b.post("/t/login?user=u").await;
    let r = b.get("/t/admin").await;
    assert_eq!(r.status, 403);
    assert_eq!(
        challenge(&r),
        None,
        "a cookie session has no scope to ask for"
    );
    assert_eq!(r.json()["error"], "permission denied");
    // Nor with a proxy's `Authorization: Basic` beside the cookie.
    let r = session_tests::http::client()
        .get(t.server.url("/t/admin"))
        .header("cookie", format!("sid={}", b.jar["sid"]))
        .basic_auth("proxy", Some("secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(!r.headers().contains_key("www-authenticate"));
}

/// Cookie sessions have no registered authentication scheme: with bearer
/// tokens off, a 401 carries no challenge, whatever the request sent.
#[tokio::test]
async fn with_bearer_tokens_off_no_challenge_is_sent() {
    let t = start_open(false).await;
    let mut b = t.server.browser();
    for path in ["/t/me", "/challenge/whoami", "/challenge/required"] {
        let r = b.get(path).await;
        assert_eq!(r.status, 401, "{path}");
        assert_eq!(challenge(&r), None, "{path}");
    }
    // A bearer token is not read at all: no `invalid_token` either.
    b.bearer = Some("garbage".into());
    let r = b.get("/t/me").await;
    assert_eq!(r.status, 401);
    assert_eq!(challenge(&r), None);
    b.bearer = None;
    b.post("/t/login?user=u").await;
    let r = b.get("/t/admin").await;
    assert_eq!(r.status, 403);
    assert_eq!(challenge(&r), None);
}

/// An app authenticator taking API tokens as `Authorization: Bearer`.
struct BearerApiToken;

#[session_axum::async_trait]
impl session_axum::Authenticator for BearerApiToken {
    async fn authenticate(&self, parts: &http::request::Parts) -> Option<Principal> {
        let value = parts.headers.get("authorization")?.to_str().ok()?;
        (value == "Bearer api-token-1").then(|| Principal::user("service-bot"))
    }
}

#[tokio::test]
async fn a_bearer_token_an_authenticator_accepted_is_challenged_the_same_way() {
    let t = start_with(SigningKeys::single(key(1)), |b| {
        b.authenticator(BearerApiToken)
    })
    .await;
    let mut api = t.server.browser();
    api.bearer = Some("api-token-1".into());
    let r = api.get("/t/me").await;
    assert_eq!((r.status, challenge(&r)), (200, None));
    let r = api.get("/t/admin").await;
    assert_eq!(r.status, 403);
    assert_eq!(challenge(&r), Some(INSUFFICIENT_SCOPE));
    api.bearer = Some("api-token-2".into());
    let r = api.get("/t/me").await;
    assert_eq!(r.status, 401);
    assert_eq!(challenge(&r), Some(INVALID_TOKEN));
}

/// A realm with spaces and every printable ASCII character a quoted-string
/// carries unescaped.
const REALM: &str = "Example API, v2 (!#$%&'()*+-./:;<=>?@[]^_`{|}~)";

async fn realm_visit(
    mut session: session_axum::Session<session_tests::profile::Counters>,
) -> String {
    session.update(|c| c.visits += 1);
    session.visits.to_string()
}

/// A route that also takes HTTP Basic: its 401 adds that challenge next to
/// the framework's (RFC 9110 §11.6.1 allows several).
async fn also_basic(auth: Auth) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    match auth.require() {
        Ok(principal) => principal.user_id.into_response(),
        Err(rejection) => {
            let mut response = rejection.into_response();
            response.headers_mut().append(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static(r#"Basic realm="admin""#),
            );
            response
        }
    }
}

async fn realm_token(auth: Auth) -> Result<session_axum::LoggedIn, SessionRejection> {
    auth.login_bearer(session_axum::Binding::user("bot"))
}

fn realm_routes(ctx: &session_axum::AppContext) -> Result<Vec<RouteDef>, session_axum::BuildError> {
    let mut routes = open_routes(ctx)?;
    routes.extend([
        RouteDef {
            method: http::Method::GET,
            path: "/admin",
            guard: Guard::permissions(&["admin"]),
            handler: get(whoami),
        },
        RouteDef {
            method: http::Method::GET,
            path: "/visit",
            guard: Guard::OPEN,
            handler: get(realm_visit),
        },
        RouteDef {
            method: http::Method::GET,
            path: "/also-basic",
            guard: Guard::OPEN,
            handler: get(also_basic),
        },
        RouteDef {
            method: http::Method::POST,
            path: "/token",
            guard: Guard::OPEN,
            handler: axum::routing::post(realm_token),
        },
    ]);
    Ok(routes)
}

static REALM_ROUTES: session_axum::ControllerRegistration = session_axum::ControllerRegistration {
    name: "RealmRoutes",
    base_path: "/realm",
    routes: realm_routes,
};

/// Every challenge the framework sends names the realm the app was built
/// with: on a guarded route (401 and 403), from the `Principal` extractor
/// and `Auth::require`, and on a bearer write the session layer refuses;
/// with the built-in interceptors alone (called as one step) and with an
/// app interceptor from the registry in the chain.
#[tokio::test]
async fn every_challenge_names_the_realm_the_app_was_built_with() {
    let plain = format!(r#"Bearer realm="{REALM}""#);
    let invalid = format!(r#"Bearer realm="{REALM}", error="invalid_token""#);
    let scope = format!(r#"Bearer realm="{REALM}", error="insufficient_scope""#);
    for registry in [true, false] {
        let t = start_with(SigningKeys::single(key(1)), move |b| {
            b.use_registry(registry)
                .controller(&REALM_ROUTES)
                .realm(REALM)
        })
        .await;
        assert_eq!(t.app_order.len() > 2, registry, "{:?}", t.app_order);
        let mut b = t.server.browser();
        for path in ["/realm/whoami", "/realm/required", "/realm/admin"] {
            let r = b.get(path).await;
            assert_eq!(r.status, 401, "{registry} {path}");
            assert_eq!(challenge(&r), Some(plain.as_str()), "{registry} {path}");
        }
        let mut api = t.server.browser();
        api.bearer = Some("garbage".into());
        for path in [
            "/realm/whoami",
            "/realm/required",
            "/realm/admin",
            "/realm/visit",
        ] {
            let r = api.get(path).await;
            assert_eq!(r.status, 401, "{registry} {path}");
            assert_eq!(challenge(&r), Some(invalid.as_str()), "{registry} {path}");
        }
        let token = t.server.browser().post("/realm/token").await.json()["token"]
            .as_str()
            .expect("a token")
            .to_owned();
        api.bearer = Some(token);
        assert_eq!(api.get("/realm/whoami").await.body, "bot");
        let r = api.get("/realm/admin").await;
        assert_eq!(r.status, 403, "{registry}");
        assert_eq!(challenge(&r), Some(scope.as_str()), "{registry}");
    }
}

/// A challenge the app adds next to the framework's stays: the app's realm
/// takes the place of the framework's value only, in order, as the default
/// realm keeps both.
#[tokio::test]
async fn a_challenge_the_app_adds_beside_the_frameworks_stays_with_its_own_realm() {
    let all = |r: &Reply| -> Vec<String> {
        r.headers
            .get_all("www-authenticate")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    };
    let basic = r#"Basic realm="admin""#.to_owned();
    for (realm, registry) in [("session", false), (REALM, false), (REALM, true)] {
        let t = start_with(SigningKeys::single(key(1)), move |b| {
            b.use_registry(registry)
                .controller(&REALM_ROUTES)
                .realm(realm)
        })
        .await;
        let r = t.server.browser().get("/realm/also-basic").await;
        assert_eq!(r.status, 401, "{realm} {registry}");
        assert_eq!(
            all(&r),
            [format!(r#"Bearer realm="{realm}""#), basic.clone()],
            "{realm} {registry}"
        );
        let mut api = t.server.browser();
        api.bearer = Some("garbage".into());
        let r = api.get("/realm/also-basic").await;
        assert_eq!(
            all(&r),
            [
                format!(r#"Bearer realm="{realm}", error="invalid_token""#),
                basic.clone()
            ],
            "{realm} {registry}"
        );
    }
}

/// `session` named explicitly is the default realm.
#[tokio::test]
async fn the_default_realm_is_session() {
    let t = start_with(SigningKeys::single(key(1)), |b| {
        b.use_registry(false)
            .controller(&REALM_ROUTES)
            .realm("session")
    })
    .await;
    assert_eq!(
        challenge(&t.server.browser().get("/realm/whoami").await),
        Some(CHALLENGE)
    );
}

/// A realm goes into `realm="..."` as it is: one that a quoted-string
/// cannot carry unescaped is refused when the app is built, naming the
/// problem, rather than panicking or failing at the first 401.
#[test]
fn a_realm_a_quoted_string_cannot_carry_as_is_is_a_build_error() {
    use session_axum::{AppBuilder, BuildError, RealmError};
    let build = |realm: &str| {
        session_axum::App::builder()
            .store(session_core::MemoryStore::new())
            .secret(key(1))
            .realm(realm)
            .build()
    };
    let max = AppBuilder::MAX_REALM_LEN;
    let too_long = "r".repeat(max + 1);
    let cases: [(&str, RealmError, &str); 8] = [
        ("", RealmError::Empty, "empty"),
        (
            &too_long,
            RealmError::TooLong { len: max + 1, max },
            "bytes long",
        ),
        ("a\tb", RealmError::Control { at: 1 }, "control character"),
        ("a\r\nb", RealmError::Control { at: 1 }, "control character"),
        (
            "del\u{7f}",
            RealmError::Control { at: 3 },
            "control character",
        ),
        (
            "say \"hi\"",
            RealmError::Unescaped { at: 4, found: '"' },
            "escaped",
        ),
        (
            "a\\b",
            RealmError::Unescaped { at: 1, found: '\\' },
            "escaped",
        ),
        ("café", RealmError::NonAscii { at: 3 }, "non-ASCII"),
    ];
    for (realm, expected, words) in cases {
        match build(realm) {
            Err(BuildError::Realm(error)) => {
                assert_eq!(error, expected, "{realm:?}");
                let message = BuildError::Realm(error).to_string();
                assert!(message.contains(words), "{realm:?}: {message}");
            }
            other => panic!("{realm:?}: {other:?}"),
        }
    }
    // At the bound, and every printable ASCII character but `"` and `\`.
    build(&"r".repeat(max)).expect("a realm at the bound");
    build(REALM).expect("printable ASCII");
}

/// The session layer's refusal travels with its response, so an app's own
/// middleware can answer it with a page of its own, leaving the handlers'
/// own 401 and 403 alone, and the login page's redirect.
#[tokio::test]
async fn a_refusals_response_carries_the_rejection_for_an_apps_own_page() {
    use axum::body::Body;
    use axum::response::Response;

    async fn page(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
        let response = next.run(request).await;
        let Some(rejection) = response.extensions().get::<SessionRejection>().copied() else {
            return response;
        };
        let (mut parts, _) = response.into_parts();
        parts.headers.remove(http::header::CONTENT_LENGTH);
        parts.headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/html"),
        );
        let html = format!("<h1>{}</h1>", rejection.status().as_u16());
        Response::from_parts(parts, Body::from(html))
    }

    let routes = axum::Router::new()
        .route(
            "/admin",
            Guard::permissions(&["admin"]).apply(get(|| async { "admin" })),
        )
        .route(
            "/own-403",
            get(|| async { (http::StatusCode::FORBIDDEN, "the handler's own") }),
        );
    let app = session_axum::App::builder()
        .store(session_core::MemoryStore::new())
        .keys(&SigningKeys::single(key(1)))
        .secure(false)
        .login_page("/login")
        .merge(routes)
        .build()
        .unwrap();
    let bob = app
        .service()
        .create_session(session_core::Binding::user("bob"))
        .await
        .unwrap();
    let cookie = app.cookie_for(&bob);
    let server = session_tests::http::TestServer::start(
        app.into_router().layer(axum::middleware::from_fn(page)),
    )
    .await;
    let mut b = server.browser();
    let r = b.get("/admin").await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body, "<h1>401</h1>");
    assert_eq!(challenge(&r), Some(CHALLENGE), "its headers kept");
    // A browser's page load still goes to the login page.
    let r = b.navigate("/admin").await;
    assert_eq!(r.status, 303, "{r:?}");
    assert!(r.body.is_empty());
    let (name, value) = cookie.split_once('=').unwrap();
    b.jar.insert(name.into(), value.into());
    let r = b.get("/admin").await;
    assert_eq!(r.status, 403);
    assert_eq!(r.body, "<h1>403</h1>");
    let r = b.get("/own-403").await;
    assert_eq!(r.status, 403);
    assert_eq!(r.body, "the handler's own");
}
