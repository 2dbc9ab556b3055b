use session_axum::prelude::*;

pub struct Admin;

// Permissions written without their key.
#[controller("/admin")]
impl Admin {
    #[get("/")]
    #[authenticated("admin")]
    async fn index() -> &'static str {
        "admin"
    }

    #[get("/both")]
    #[authenticated(["admin", "audit"])]
    async fn both() -> &'static str {
        "both"
    }
}

fn main() {}
