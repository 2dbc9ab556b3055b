// A route taking a deprecated type, in a crate denying warnings: the route
// allows them all (`allow(warnings)`, not `allow(deprecated)`), and the code
// generated to register it, which names the type too, compiles with it.
#![deny(warnings)]

use session_axum::prelude::*;

#[deprecated(note = "use Query<Filter>")]
#[derive(serde::Deserialize)]
pub struct OldFilter {
    pub q: String,
}

#[derive(Default)]
pub struct Search;

#[controller("/search")]
impl Search {
    #[allow(warnings)]
    #[get("/")]
    async fn search(axum::extract::Query(filter): axum::extract::Query<OldFilter>) -> String {
        filter.q
    }
}

fn main() {}
