use session_axum::prelude::*;

#[derive(Default)]
pub struct Wrap<T>(T);

#[interceptor]
#[async_trait]
impl<T: Default + Send + Sync + 'static> Interceptor for Wrap<T> {
    async fn intercept(&self, request: axum::extract::Request, next: Next) -> axum::response::Response {
        next.run(request).await
    }
}

fn main() {}
