use session_axum::prelude::*;

pub struct Admin;

#[controller("/admin")]
#[authenticated(permissions = "admin")]
impl Admin {
    #[get("/")]
    async fn index() -> &'static str {
        "admin"
    }
}

fn main() {}
