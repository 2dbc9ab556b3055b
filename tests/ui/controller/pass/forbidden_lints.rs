//! A crate that forbids the lints generated code could raise takes
//! controllers and interceptors: they carry no `allow` for them (an
//! `allow` under a `forbid` is itself an error).
#![forbid(unused_mut, unused_variables, deprecated)]

use session_axum::prelude::*;

#[derive(Default)]
pub struct Ctl;

#[controller("/c")]
impl Ctl {
    #[get("/")]
    async fn index(&self) -> &'static str {
        "index"
    }

    #[cfg(any())]
    #[get("/never")]
    async fn never() -> &'static str {
        "never"
    }
}

pub struct Gone;

// Every route cfg'd out.
#[controller("/gone")]
impl Gone {
    #[cfg(any())]
    #[get("/")]
    async fn never() -> &'static str {
        "never"
    }
}

#[interceptor]
#[derive(Default)]
pub struct Audit;

#[async_trait]
impl Interceptor for Audit {
    async fn intercept(&self, request: axum::extract::Request, next: Next) -> axum::response::Response {
        next.run(request).await
    }
}

fn main() {}
