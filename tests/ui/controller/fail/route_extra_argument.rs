use session_axum::prelude::*;

pub struct Ctl;

#[controller("/c")]
impl Ctl {
    #[get("/a", name = "a")]
    async fn a() -> &'static str {
        "a"
    }
}

fn main() {}
