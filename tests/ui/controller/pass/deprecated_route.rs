// A route kept for old clients, marked `#[deprecated]`: the code the macro
// generates to register it is not a use the crate's lints should see, in a
// crate that denies them (`-D warnings` in CI).
#![deny(deprecated)]

use session_axum::prelude::*;

#[derive(Default)]
pub struct Api;

#[controller("/api")]
impl Api {
    #[deprecated(note = "use /api/v2/items")]
    #[get("/items")]
    async fn items_v1(&self) -> &'static str {
        "v1"
    }

    #[deprecated(note = "use /api/v2/ping")]
    #[get("/ping")]
    async fn ping_v1() -> &'static str {
        "pong"
    }

    #[get("/v2/items")]
    async fn items(&self) -> &'static str {
        "v2"
    }
}

fn main() {}
