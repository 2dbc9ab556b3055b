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

// A deprecated controller, and a route taking a deprecated type: the app
// allows the lint on the block or the route, and the generated code, which
// names them too, allows it with them.
#[deprecated(note = "use Api")]
#[derive(Default)]
pub struct OldApi;

#[allow(deprecated)]
#[controller("/old")]
impl OldApi {
    #[get("/items")]
    async fn items(&self) -> &'static str {
        "old"
    }
}

#[deprecated(note = "use Query<Filter>")]
#[derive(serde::Deserialize)]
pub struct OldFilter {
    pub q: String,
}

#[derive(Default)]
pub struct Search;

#[controller("/search")]
impl Search {
    #[allow(deprecated)]
    #[get("/")]
    async fn search(axum::extract::Query(filter): axum::extract::Query<OldFilter>) -> String {
        filter.q
    }
}

fn main() {}
