use session_axum::prelude::*;

// On the struct, `#[interceptor]` cannot see the impl block: a missing
// `#[async_trait]` there is rustc's own error, on the method's parameters.
#[interceptor]
#[derive(Default)]
pub struct Audit;

impl Interceptor for Audit {
    async fn intercept(&self, request: axum::extract::Request, next: Next) -> axum::response::Response {
        next.run(request).await
    }
}

fn main() {}
