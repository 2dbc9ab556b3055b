// A crate forbidding deprecated whose route allows all other warnings
// (`allow(warnings)` is accepted under the `forbid`): compiled before, so
// the code generated for it must carry no `allow(deprecated)`, an error
// under the `forbid`.
#![forbid(deprecated)]

use session_axum::prelude::*;

#[derive(Default)]
pub struct Search;

#[controller("/search")]
impl Search {
    #[allow(warnings)]
    #[get("/")]
    async fn search() -> &'static str {
        "search"
    }
}

fn main() {}
