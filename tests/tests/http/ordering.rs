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
