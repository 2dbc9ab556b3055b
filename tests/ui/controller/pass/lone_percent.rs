//! A `%` that starts no encoding reaches the router as sent (browsers and
//! curl send it as is), so a route may hold one.
use session_axum::prelude::*;

pub struct Ctl;

#[controller("/p")]
impl Ctl {
    #[get("/100%")]
    async fn whole() -> &'static str {
        "all"
    }
}

fn main() {}
