use session_axum::prelude::*;

pub struct Admin;

#[controller("/admin", registry = false)]
impl Admin {
    #[get("/")]
    async fn index() -> &'static str {
        "admin"
    }
}

#[controller("/admin/more", registry = false)]
impl Admin {
    #[get("/")]
    async fn more() -> &'static str {
        "more"
    }
}

fn main() {}
