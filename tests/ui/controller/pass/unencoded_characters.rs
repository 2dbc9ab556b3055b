use session_axum::prelude::*;

pub struct Versions;

// Characters clients send as written are accepted in route paths.
#[controller("/v[1]")]
impl Versions {
    #[get("/a|b/c~d/x:y@z/%C3%A9")]
    async fn odd() -> &'static str {
        "odd"
    }
}

fn main() {}
