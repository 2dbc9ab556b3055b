use session_axum::prelude::*;

// Dependencies written as strings, without brackets, or naming the
// interceptor itself.
#[interceptor(depends_on = ["AuthInterceptor"])]
#[derive(Default)]
pub struct Strings;

#[async_trait]
impl Interceptor for Strings {
    async fn intercept(&self, request: axum::extract::Request, next: Next) -> axum::response::Response {
        next.run(request).await
    }
}

#[interceptor(runs_before = session_axum::AuthInterceptor)]
#[derive(Default)]
pub struct Bare;

#[async_trait]
impl Interceptor for Bare {
    async fn intercept(&self, request: axum::extract::Request, next: Next) -> axum::response::Response {
        next.run(request).await
    }
}

#[interceptor(depends_on = [Itself])]
#[derive(Default)]
pub struct Itself;

#[async_trait]
impl Interceptor for Itself {
    async fn intercept(&self, request: axum::extract::Request, next: Next) -> axum::response::Response {
        next.run(request).await
    }
}

fn main() {}
