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
    let r = reqwest::Client::new()
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
    let r = reqwest::Client::new()
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
