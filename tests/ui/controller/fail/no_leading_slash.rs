use session_axum::prelude::*;

pub struct SessionRoutes;

#[controller("/session")]
impl SessionRoutes {
    #[get("info")]
    async fn info() -> &'static str {
        "info"
    }
}

pub struct Base;

#[controller("/base")]
impl Base {
    #[get("")]
    async fn base() -> &'static str {
        "base"
    }
}

fn main() {}
