use session_axum::prelude::*;

pub struct Admin;

#[controller("/admin", from_state)]
impl Admin {
    #[get("/")]
    async fn index() -> &'static str {
        "admin"
    }
}

fn main() {}
