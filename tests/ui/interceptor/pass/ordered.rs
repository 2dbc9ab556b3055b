use session_axum::prelude::*;
use session_axum::{AppContext, BuildError, SessionInterceptor};

#[interceptor(depends_on = [SessionInterceptor])]
#[derive(Default)]
pub struct Audit;

#[async_trait]
impl Interceptor for Audit {
    async fn intercept(&self, request: axum::extract::Request, next: Next) -> axum::response::Response {
        next.run(request).await
    }
}

pub struct Limits {
    pub max: usize,
}

impl FromApp for Limits {
    fn from_app(_: &AppContext) -> Result<Self, BuildError> {
        Ok(Self { max: 10 })
    }
}

#[interceptor(from_app, depends_on = [Audit])]
#[async_trait]
impl Interceptor for Limits {
    async fn intercept(&self, request: axum::extract::Request, next: Next) -> axum::response::Response {
        let _ = self.max;
        next.run(request).await
    }
}

fn main() {
    let app = App::builder().store(MemoryStore::new()).secret(Key::generate()).build().unwrap();
    assert_eq!(app.interceptor_order(), ["AuthInterceptor", "SessionInterceptor", "Audit", "Limits"]);
}
