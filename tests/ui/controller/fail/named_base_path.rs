use session_axum::prelude::*;

pub struct Named;

// The base path written as a key, and a route mistake: both are reported.
#[controller(path = "/named")]
impl Named {
    #[get("no-slash")]
    async fn index() -> &'static str {
        "named"
    }
}

pub struct Number;

#[controller(42)]
impl Number {
    #[get("/")]
    async fn index() -> &'static str {
        "number"
    }
}

fn main() {}
