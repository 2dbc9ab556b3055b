use session_axum::prelude::*;

#[interceptor]
#[derive(Default)]
pub struct Audit;

// The struct's attribute registers it already.
#[interceptor(depends_on = [session_axum::AuthInterceptor])]
#[async_trait]
impl Interceptor for Audit {
    async fn intercept(&self, request: axum::extract::Request, next: Next) -> axum::response::Response {
        next.run(request).await
    }
}

fn main() {}
