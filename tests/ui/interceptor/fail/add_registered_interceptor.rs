use session_axum::prelude::*;

#[interceptor]
#[derive(Default)]
pub struct Audit;

#[async_trait]
impl Interceptor for Audit {
    async fn intercept(&self, request: axum::extract::Request, next: Next) -> axum::response::Response {
        next.run(request).await
    }
}

fn main() {
    let _ = App::builder().add_interceptor::<Audit>();
}
