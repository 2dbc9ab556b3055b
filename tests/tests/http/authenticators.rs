//! App authenticators (an API key) run where the session token is checked.

use axum::http::request::Parts;
use session_axum::{Authenticator, Principal};

use crate::app::{key, start_with};

struct ApiKey;

#[session_axum::async_trait]
impl Authenticator for ApiKey {
    async fn authenticate(&self, parts: &Parts) -> Option<Principal> {
        let presented = parts.headers.get("x-api-key")?.to_str().ok()?;
        (presented == "k-123").then(|| {
            let mut principal = Principal::user("service-bot");
            principal.permissions = vec!["admin".into()];
            principal
        })
    }
}

async fn get(
    server: &session_tests::http::TestServer,
    path: &str,
    api_key: Option<&str>,
) -> reqwest::Response {
    let mut request = session_tests::http::client().get(server.url(path));
    if let Some(k) = api_key {
        request = request.header("x-api-key", k);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn an_api_key_authenticates_guarded_routes() {
    let t = start_with(session_axum::SigningKeys::single(key(1)), |b| {
        b.authenticator(ApiKey)
    })
    .await;
    let r = get(&t.server, "/t/me", Some("k-123")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["user_id"],
        "service-bot"
    );
    assert_eq!(
        get(&t.server, "/t/admin", Some("k-123")).await.status(),
        200
    );
    assert_eq!(get(&t.server, "/t/me", Some("wrong")).await.status(), 401);
    assert_eq!(get(&t.server, "/t/me", None).await.status(), 401);
    assert!(
        t.store.inner().is_empty(),
        "an API-key request creates no session"
    );
}

#[tokio::test]
async fn a_session_principal_takes_precedence_over_authenticators() {
    let t = start_with(session_axum::SigningKeys::single(key(1)), |b| {
        b.authenticator(ApiKey)
    })
    .await;
    let mut b = t.server.browser();
    b.post("/t/login?user=ada").await;
    let cookie = format!("sid={}", b.jar["sid"]);
    let r = session_tests::http::client()
        .get(t.server.url("/t/me"))
        .header("cookie", cookie)
        .header("x-api-key", "k-123")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["user_id"],
        "ada"
    );
}

/// An authenticator taking API tokens as `Authorization: Bearer` (a JWT, an
/// API key): the session layer sees a bearer token it cannot verify.
struct BearerApiToken;

#[session_axum::async_trait]
impl Authenticator for BearerApiToken {
    async fn authenticate(&self, parts: &Parts) -> Option<Principal> {
        let value = parts.headers.get("authorization")?.to_str().ok()?;
        (value == "Bearer api-token-1").then(|| Principal::user("service-bot"))
    }
}

#[tokio::test]
async fn a_bearer_request_an_authenticator_accepted_keeps_its_answer_when_it_writes() {
    let t = start_with(session_axum::SigningKeys::single(key(1)), |b| {
        b.authenticator(BearerApiToken)
    })
    .await;
    let mut api = t.server.browser();
    api.bearer = Some("api-token-1".into());
    let me = api.get("/t/me").await;
    assert_eq!(me.json()["user_id"], "service-bot");
    // Its session write has nowhere to go: dropped, not stored out of
    // reach, and the authenticated request still gets its answer.
    let r = api.get("/t/visit").await;
    assert_eq!((r.status, r.body.as_str()), (200, "1"), "{:?}", r.headers);
    assert!(r.set_cookies.is_empty());
    assert!(t.store.inner().is_empty());
    // Another token is still refused.
    api.bearer = Some("api-token-2".into());
    assert_eq!(api.get("/t/visit").await.status, 401);
}
