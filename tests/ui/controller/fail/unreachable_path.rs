use session_axum::prelude::*;

pub struct Odd;

#[controller("/odd")]
impl Odd {
    #[get("/find?all")]
    async fn find() -> &'static str {
        "found"
    }
}

pub struct Caret;

// Browsers send `^` as `%5E`.
#[controller("/a")]
impl Caret {
    #[get("/c^d")]
    async fn caret() -> &'static str {
        "caret"
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
