//! Interceptors registered through `#[interceptor]` whose names are alike
//! (`a::Audit`, `b::Audit`): the build error for their cycle must tell them
//! apart. Its own test binary: the registry is per binary, and this cycle
//! would fail every other app built in it.

use session_axum::prelude::*;
use session_axum::{BuildError, OrderError};

/// A pass-through interceptor named `Audit` that depends on `$other`.
macro_rules! audit_depending_on {
    ($other:path) => {
        use session_axum::prelude::*;

        #[interceptor(depends_on = [$other])]
        #[derive(Default)]
        pub struct Audit;

        #[async_trait]
        impl Interceptor for Audit {
            async fn intercept(
                &self,
                request: axum::extract::Request,
                next: Next,
            ) -> axum::response::Response {
                next.run(request).await
            }
        }
    };
}

mod a {
    audit_depending_on!(super::b::Audit);
}

mod b {
    audit_depending_on!(super::a::Audit);
}

#[test]
fn a_cycle_between_alike_names_tells_them_apart() {
    let Err(err) = App::builder()
        .store(MemoryStore::new())
        .secret(Key::generate())
        .build()
    else {
        panic!("a cycle is a build error");
    };
    assert!(
        matches!(err, BuildError::Order(OrderError::Cycle { .. })),
        "{err:?}"
    );
    let message = err.to_string();
    // Not "interceptor dependencies form a cycle: Audit -> Audit -> Audit".
    assert!(
        message.contains("a::Audit") && message.contains("b::Audit"),
        "the cycle does not say which `Audit` is which: {message}"
    );
}
