// An interceptor on its way out, marked `#[deprecated]`: the generated
// registration is not a use the crate's lints should see, in a crate that
// denies them (`-D warnings` in CI).
#![deny(deprecated)]

use session_axum::prelude::*;

#[deprecated(note = "replaced by the gateway's own audit log")]
#[interceptor]
#[derive(Default)]
pub struct LegacyAudit;

#[allow(deprecated)]
#[async_trait]
impl Interceptor for LegacyAudit {
    async fn intercept(&self, request: axum::extract::Request, next: Next) -> axum::response::Response {
        next.run(request).await
    }
}

// Ordered after the deprecated one: the app allows naming it, and the
// generated code, which names it too, allows it with it.
#[allow(deprecated)]
#[interceptor(depends_on = [LegacyAudit])]
#[derive(Default)]
pub struct Audit;

#[async_trait]
impl Interceptor for Audit {
    async fn intercept(&self, request: axum::extract::Request, next: Next) -> axum::response::Response {
        next.run(request).await
    }
}

fn main() {}
