use session_axum::prelude::*;

pub struct Admin;

#[controller("/admin", registry = "false")]
impl Admin {
    #[get("/")]
    async fn index() -> &'static str {
        "admin"
    }
}

fn main() {}
