use session_axum::prelude::*;

pub struct Cafe;

// Hex digits in either case, and an encoded unreserved character, name
// the same path.
#[controller("/")]
impl Cafe {
    #[get("/caf%C3%A9")]
    async fn upper() -> &'static str {
        "upper"
    }

    #[get("/caf%c3%a9")]
    async fn lower() -> &'static str {
        "lower"
    }

    #[get("/~me")]
    async fn me() -> &'static str {
        "me"
    }

    #[get("/%7eme")]
    async fn encoded_me() -> &'static str {
        "me"
    }
}

fn main() {}
