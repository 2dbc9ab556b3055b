// A `cfg_attr` holding a `cfg` on an interceptor's item: rustc evaluates it
// before `#[interceptor]` runs, so a compiled-out interceptor registers nothing.
use session_axum::prelude::*;

#[interceptor]
#[cfg_attr(all(), cfg(any()))]
#[derive(Default)]
pub struct Gone;

#[derive(Default)]
pub struct ImplGone;

#[interceptor]
#[cfg_attr(all(), cfg_attr(all(), allow(dead_code), cfg(any())))]
#[async_trait]
impl Interceptor for ImplGone {
    async fn intercept(&self, request: axum::extract::Request, next: Next) -> axum::response::Response {
        next.run(request).await
    }
}

#[interceptor]
#[cfg_attr(any(), cfg(any()))]
#[derive(Default)]
pub struct Kept;

#[async_trait]
impl Interceptor for Kept {
    async fn intercept(&self, request: axum::extract::Request, next: Next) -> axum::response::Response {
        next.run(request).await
    }
}

fn main() {
    let app = App::builder().store(MemoryStore::new()).secret(Key::generate()).build().unwrap();
    assert_eq!(app.interceptor_order(), ["AuthInterceptor", "SessionInterceptor", "Kept"]);
}
