//! The README's per-request user check (axum-login's `get_user` returning
//! `None`): an interceptor inside the auth interceptor logs out a user the
//! app no longer has, before any route, controller or merged, runs.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use session_axum::{
    Auth, AuthInterceptor, Interceptor, InterceptorRef, InterceptorRegistration, Next, Principal,
};
use session_core::{SessionStore as _, SigningKeys};

use crate::app::{key, start_with};

/// Every user but `ada` is gone.
struct GoneUsers;

fn user_exists(user_id: &str) -> bool {
    user_id == "ada"
}

#[session_axum::async_trait]
impl Interceptor for GoneUsers {
    async fn intercept(&self, request: Request, next: Next) -> Response {
        let gone = Principal::of(&request).is_some_and(|p| !user_exists(&p.user_id));
        if !gone {
            return next.run(request).await;
        }
        let (mut parts, body) = request.into_parts();
        if let Ok(auth) = Auth::from_request_parts(&mut parts, &()).await
            && let Err(rejection) = auth.logout().await
        {
            return rejection.into_response();
        }
        next.run(Request::from_parts(parts, body)).await
    }
}

static GONE_USERS: InterceptorRegistration = InterceptorRegistration {
    interceptor: InterceptorRef::of::<GoneUsers>(),
    depends_on: &[InterceptorRef::of::<AuthInterceptor>()],
    runs_before: &[],
    builtin: false,
    build: |_| Ok(Arc::new(GoneUsers)),
};

#[tokio::test]
async fn an_interceptor_logs_out_a_user_the_app_no_longer_has_before_any_route_runs() {
    let t = start_with(SigningKeys::single(key(1)), |b| b.interceptor(&GONE_USERS)).await;
    let mut ada = t.server.browser();
    ada.post("/t/login?user=ada").await;
    assert_eq!(ada.get("/t/me").await.json()["user_id"], "ada");

    let mut bob = t.server.browser();
    assert_eq!(bob.post("/t/login?user=bob").await.status, 204);
    let bobs = t.service.list_for_user("bob").await.unwrap()[0].id;
    let r = bob.get("/t/me").await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(r.cookie("sid").and_then(|c| c.max_age), Some(0));
    assert_eq!(t.store.inner().load(&bobs).await.unwrap(), None, "deleted");
    assert_eq!(ada.get("/t/me").await.json()["user_id"], "ada");
}
