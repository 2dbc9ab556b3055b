use session_axum::prelude::*;

#[derive(Default)]
pub struct Audit;

// On the impl block, without `#[async_trait]` below it.
#[interceptor]
impl Interceptor for Audit {
    async fn intercept(&self, request: axum::extract::Request, next: Next) -> axum::response::Response {
        next.run(request).await
    }
}

fn main() {}
