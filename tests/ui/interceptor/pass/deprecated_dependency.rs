// An interceptor ordered after a deprecated one, in a crate denying
// warnings: the app's own code does not name the deprecated type (only the
// attribute does), so the code generated from the attribute is no use of it
// the crate's lints should see.
#![deny(warnings)]

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
