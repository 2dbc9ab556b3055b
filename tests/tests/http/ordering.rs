use std::sync::Arc;

use session_axum::{
    App, BuildError, Interceptor, InterceptorRef, InterceptorRegistration, Key, MemoryStore, Next,
    OrderError,
};

use crate::app::start;

#[tokio::test]
async fn auth_runs_before_session_and_the_user_interceptor_runs_inside_session() {
    let t = start().await;
    let pos = |name: &str| {
        t.app_order
            .iter()
            .position(|n| *n == name)
            .unwrap_or_else(|| panic!("{name} missing from {:?}", t.app_order))
    };
    assert!(pos("AuthInterceptor") < pos("SessionInterceptor"));
    assert!(pos("SessionInterceptor") < pos("Observer"));

    // Observed: the user interceptor sees the session context and principal the auth interceptor set.
    let mut b = t.server.browser();
    assert_eq!(
        b.get("/t/peek").await.headers["x-observer"],
        "session;anonymous"
    );
    b.post("/t/login?user=ada").await;
    assert_eq!(
        b.get("/t/peek").await.headers["x-observer"],
        "session;principal=ada"
    );
    // Interceptors wrap plain routes and unmatched paths too.
    assert_eq!(
        b.get("/plain").await.headers["x-observer"],
        "session;principal=ada"
    );
    let missing = b.get("/nowhere").await;
    assert_eq!(missing.status, 404);
    assert!(missing.headers.contains_key("x-observer"));

    // Outside auth, the response's new session is already stored.
    assert!(pos("Outer") < pos("AuthInterceptor"));
    let r = session_tests::http::client()
        .get(t.server.url("/t/visit"))
        .header("x-outer", "check")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-outer"], "stored");
}

macro_rules! pass_through {
    ($($name:ident),*) => {$(
        struct $name;
        #[session_axum::async_trait]
        impl Interceptor for $name {
            async fn intercept(&self, r: axum::extract::Request, n: Next) -> axum::response::Response {
                n.run(r).await
            }
        }
    )*};
}
pass_through!(First, Second, Third);

static FIRST: InterceptorRegistration = InterceptorRegistration {
    interceptor: InterceptorRef::of::<First>(),
    depends_on: &[InterceptorRef::of::<Third>()],
    runs_before: &[],
    builtin: false,
    build: |_| Ok(Arc::new(First)),
};
static SECOND: InterceptorRegistration = InterceptorRegistration {
    interceptor: InterceptorRef::of::<Second>(),
    depends_on: &[InterceptorRef::of::<First>()],
    runs_before: &[],
    builtin: false,
    build: |_| Ok(Arc::new(Second)),
};
static THIRD: InterceptorRegistration = InterceptorRegistration {
    interceptor: InterceptorRef::of::<Third>(),
    depends_on: &[],
    runs_before: &[InterceptorRef::of::<First>()],
    builtin: false,
    build: |_| Ok(Arc::new(Third)),
};
static THIRD_CYCLIC: InterceptorRegistration = InterceptorRegistration {
    interceptor: InterceptorRef::of::<Third>(),
    depends_on: &[InterceptorRef::of::<Second>()],
    runs_before: &[],
    builtin: false,
    build: |_| Ok(Arc::new(Third)),
};

fn builder() -> session_axum::AppBuilder {
    App::builder()
        .store(MemoryStore::new())
        .secret(Key::generate())
        .use_registry(false)
}

#[test]
fn explicit_interceptors_are_ordered_after_the_builtins() {
    let app = builder()
        .interceptor(&SECOND)
        .interceptor(&FIRST)
        .interceptor(&THIRD)
        .build()
        .unwrap();
    assert_eq!(
        app.interceptor_order(),
        [
            "AuthInterceptor",
            "SessionInterceptor",
            "Third",
            "First",
            "Second"
        ]
    );
}

#[test]
fn a_cycle_is_a_build_error_naming_every_member() {
    let err = builder()
        .interceptor(&FIRST)
        .interceptor(&SECOND)
        .interceptor(&THIRD_CYCLIC)
        .build()
        .unwrap_err();
    let BuildError::Order(OrderError::Cycle { members }) = &err else {
        panic!("{err:?}")
    };
    let mut names = members.to_vec();
    names.sort();
    names.dedup();
    assert_eq!(names, ["First", "Second", "Third"]);
    let message = err.to_string();
    assert!(
        message.contains("First") && message.contains("Second") && message.contains("Third"),
        "{message}"
    );
}

#[test]
fn a_dependency_on_an_unregistered_interceptor_is_a_build_error() {
    let err = builder().interceptor(&SECOND).build().unwrap_err();
    assert!(
        matches!(
            err,
            BuildError::Order(OrderError::Unknown {
                interceptor: "Second",
                missing: "First"
            })
        ),
        "{err:?}"
    );
}

#[test]
fn building_without_store_or_key_is_an_error_not_a_panic() {
    assert!(
        App::builder()
            .secret(Key::generate())
            .build()
            .unwrap_err()
            .to_string()
            .contains("store")
    );
    assert!(
        App::builder()
            .store(MemoryStore::new())
            .build()
            .unwrap_err()
            .to_string()
            .contains("key")
    );
}

/// Runs inside auth and outside session: it sees the principal auth set,
/// and the session it wraps is persisted after it returns.
struct Between;

#[session_axum::async_trait]
impl Interceptor for Between {
    async fn intercept(&self, r: axum::extract::Request, n: Next) -> axum::response::Response {
        let seen = r
            .extensions()
            .get::<session_axum::RequestSession>()
            .map(|s| s.principal().map_or("anonymous".to_owned(), |p| p.user_id))
            .unwrap_or_else(|| "none".to_owned());
        let mut response = n.run(r).await;
        if let Ok(v) = axum::http::HeaderValue::from_str(&seen) {
            response.headers_mut().insert("x-between", v);
        }
        response
    }
}

static BETWEEN: InterceptorRegistration = InterceptorRegistration {
    interceptor: InterceptorRef::of::<Between>(),
    depends_on: &[InterceptorRef::of::<session_axum::AuthInterceptor>()],
    runs_before: &[InterceptorRef::of::<session_axum::SessionInterceptor>()],
    builtin: false,
    build: |_| Ok(Arc::new(Between)),
};

#[tokio::test]
async fn an_interceptor_between_auth_and_session_sees_the_principal_and_sessions_still_persist() {
    let t = crate::app::start_with(session_axum::SigningKeys::single(crate::app::key(1)), |b| {
        b.interceptor(&BETWEEN)
    })
    .await;
    let pos = |name: &str| t.app_order.iter().position(|n| *n == name).unwrap();
    assert!(pos("AuthInterceptor") < pos("Between") && pos("Between") < pos("SessionInterceptor"));
    let mut b = t.server.browser();
    assert_eq!(b.get("/t/visit").await.headers["x-between"], "anonymous");
    assert_eq!(b.get("/t/visit").await.body, "2");
    b.post("/t/login?user=ada").await;
    let r = b.get("/t/me").await;
    assert_eq!(r.headers["x-between"], "ada");
    assert_eq!(b.get("/t/peek").await.json()["visits"], 2);
    assert_eq!(b.post("/t/logout").await.status, 204);
    assert_eq!(b.get("/t/me").await.status, 401);
}
