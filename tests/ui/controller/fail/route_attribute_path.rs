use session_axum::prelude::controller;

pub struct Ctl;

// A route attribute's path is resolved as written.
#[controller("/c")]
impl Ctl {
    #[routes::get("/a")]
    async fn a() -> &'static str {
        "a"
    }
}

fn main() {}
