//! With only the built-in interceptors, auth and session run as one fused
//! step instead of the general chain: the same behaviour over real HTTP.

use session_axum::{ControllerRegistration, SigningKeys};

use crate::app::{TestApp, key, start_with};

static ROUTES: ControllerRegistration = ControllerRegistration {
    name: "TestRoutes",
    base_path: "/t",
    routes: crate::app::routes,
};

async fn start_builtin_only() -> TestApp {
    let t = start_with(SigningKeys::single(key(1)), |b| {
        b.use_registry(false).controller(&ROUTES)
    })
    .await;
    assert_eq!(t.app_order, ["AuthInterceptor", "SessionInterceptor"]);
    t
}

#[tokio::test]
async fn the_fused_step_creates_counts_and_reads_without_writing() {
    let t = start_builtin_only().await;
    let mut b = t.server.browser();
    let r = b.get("/t/visit").await;
    assert_eq!(r.body, "1");
    assert_eq!(r.cookie("sid").and_then(|c| c.max_age), Some(300));
    assert_eq!(b.get("/t/visit").await.body, "2");
    t.store.clear();
    let r = b.get("/t/peek").await;
    assert_eq!(r.json()["visits"], 2);
    assert!(r.set_cookies.is_empty());
    assert!(t.store.writes().is_empty(), "a read writes nothing");
    // A failed request persists nothing.
    assert_eq!(b.get("/t/fail").await.status, 500);
    assert_eq!(b.get("/t/peek").await.json()["visits"], 2);
}

#[tokio::test]
async fn the_fused_step_guards_rotates_at_login_and_deletes_at_logout() {
    let t = start_builtin_only().await;
    let mut b = t.server.browser();
    assert_eq!(b.get("/t/me").await.status, 401);
    b.get("/t/visit").await;
    let before = b.jar["sid"].clone();
    assert_eq!(b.post("/t/login?user=ada").await.status, 204);
    assert_ne!(b.jar["sid"], before, "a new id at login");
    assert_eq!(b.get("/t/me").await.json()["user_id"], "ada");
    let token = b.jar["sid"].clone();
    let r = b.post("/t/logout").await;
    assert_eq!(r.cookie("sid").and_then(|c| c.max_age), Some(0));
    // No session is left; the store holds only the marker the login left
    // under the visit's id.
    let left = t.service.list(session_core::PageRequest::first(10)).await;
    assert!(left.unwrap().items.is_empty());
    assert_eq!(t.store.inner().len(), 1);
    let mut replay = t.server.browser();
    replay.jar.insert("sid".into(), token);
    assert_eq!(replay.get("/t/me").await.status, 401);
}
