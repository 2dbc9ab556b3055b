use session_axum::prelude::*;

pub struct Admin;

#[controller("/admin")]
impl Admin {
    #[get("/")]
    #[authenticated(roles = ["admin"])]
    async fn index() -> &'static str {
        "admin"
    }
}

fn main() {}
