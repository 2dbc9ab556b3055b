use session_axum::prelude::*;

#[interceptor(registry = false)]
#[derive(Default)]
pub struct AdminAudit;

// The struct's attribute leaves it out of the registry; this one would put it in.
#[interceptor]
#[async_trait]
impl Interceptor for AdminAudit {
    async fn intercept(&self, request: axum::extract::Request, next: Next) -> axum::response::Response {
        next.run(request).await
    }
}

fn main() {}
