use session_axum::prelude::*;

pub struct Odd;

#[controller("/odd")]
impl Odd {
    #[get("/find?all")]
    async fn find() -> &'static str {
        "found"
    }
}

#[controller("/caf\u{e9}")]
impl Odd {
    #[get("/")]
    async fn cafe() -> &'static str {
        "coffee"
    }
}

fn main() {}
