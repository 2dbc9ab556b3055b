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

pub struct Percent;

// A literal `%` arrives as `%25`; `%41` is an encoding, matched as sent.
#[controller("/p")]
impl Percent {
    #[get("/100%")]
    async fn whole() -> &'static str {
        "all"
    }

    #[get("/a%4")]
    async fn short() -> &'static str {
        "short"
    }

    #[get("/%41/x%zz-{id}")]
    async fn not_hex() -> &'static str {
        "not hex"
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
