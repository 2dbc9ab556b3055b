use session_axum::prelude::*;
use session_axum::{AuthInterceptor, BuildError, OrderError, SessionInterceptor};

/// Run only by the apps given it.
#[interceptor(registry = false, depends_on = [AuthInterceptor], runs_before = [SessionInterceptor])]
#[derive(Default)]
pub struct AdminAudit;

#[async_trait]
impl Interceptor for AdminAudit {
    async fn intercept(&self, request: axum::extract::Request, next: Next) -> axum::response::Response {
        next.run(request).await
    }
}

/// Registered, but depending on one that is not: every app must add it.
#[interceptor(depends_on = [AdminAudit])]
#[derive(Default)]
pub struct Audit;

#[async_trait]
impl Interceptor for Audit {
    async fn intercept(&self, request: axum::extract::Request, next: Next) -> axum::response::Response {
        next.run(request).await
    }
}

/// `registry = true` is the default, spelled out; ordered after `Audit`.
#[interceptor(registry = true, depends_on = [Audit])]
#[derive(Default)]
pub struct Timing;

#[async_trait]
impl Interceptor for Timing {
    async fn intercept(&self, request: axum::extract::Request, next: Next) -> axum::response::Response {
        next.run(request).await
    }
}

/// Unregistered and on a cycle with the registered `Timing`.
#[interceptor(registry = false, depends_on = [Timing], runs_before = [Audit])]
#[derive(Default)]
pub struct Cyclic;

#[async_trait]
impl Interceptor for Cyclic {
    async fn intercept(&self, request: axum::extract::Request, next: Next) -> axum::response::Response {
        next.run(request).await
    }
}

fn builder() -> session_axum::AppBuilder {
    App::builder().store(MemoryStore::new()).secret(Key::generate())
}

fn main() {
    // Not added: the registered dependent names what is missing.
    match builder().build() {
        Err(BuildError::Order(OrderError::Unknown { interceptor, missing })) => {
            assert_eq!((interceptor, missing), ("Audit", "AdminAudit"));
        }
        other => panic!("{other:?}"),
    }

    // Added: ordered with the registered ones.
    let app = builder().add_interceptor::<AdminAudit>().build().unwrap();
    assert_eq!(
        app.interceptor_order(),
        ["AuthInterceptor", "AdminAudit", "SessionInterceptor", "Audit", "Timing"]
    );

    // Added twice: an error, as a route added twice is.
    match builder().add_interceptor::<AdminAudit>().add_interceptor::<AdminAudit>().build() {
        Err(BuildError::Order(OrderError::Duplicate(name))) => assert_eq!(name, "AdminAudit"),
        other => panic!("{other:?}"),
    }

    // A cycle through an added one is a cycle like any other.
    match builder().add_interceptor::<AdminAudit>().add_interceptor::<Cyclic>().build() {
        Err(BuildError::Order(OrderError::Cycle { members })) => {
            let mut names = members.clone();
            names.sort();
            names.dedup();
            assert_eq!(names, ["Audit", "Cyclic", "Timing"], "{members:?}");
        }
        other => panic!("{other:?}"),
    }

    // Without the registry, only what is added runs.
    let app = builder().use_registry(false).add_interceptor::<AdminAudit>().build().unwrap();
    assert_eq!(app.interceptor_order(), ["AuthInterceptor", "AdminAudit", "SessionInterceptor"]);
}
