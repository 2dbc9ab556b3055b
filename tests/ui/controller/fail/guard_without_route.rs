use session_axum::prelude::*;

pub struct Admin;

#[controller("/admin")]
impl Admin {
    #[get("/")]
    async fn index() -> &'static str {
        "admin"
    }

    #[authenticated]
    async fn helper() -> u32 {
        1
    }
}

fn main() {}
