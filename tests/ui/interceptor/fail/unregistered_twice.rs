use session_axum::prelude::*;

#[interceptor(registry = false)]
#[derive(Default)]
pub struct AdminAudit;

#[interceptor(registry = false)]
#[async_trait]
impl Interceptor for AdminAudit {
    async fn intercept(&self, request: axum::extract::Request, next: Next) -> axum::response::Response {
        next.run(request).await
    }
}

fn main() {}
