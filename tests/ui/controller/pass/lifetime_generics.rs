//! Lifetime parameters on a route are inferred where it is called.
use session_axum::prelude::*;

#[derive(Default)]
pub struct Ctl {
    name: String,
}

#[controller("/c")]
impl Ctl {
    #[get("/a")]
    async fn a<'a>(&'a self) -> String {
        self.name.clone()
    }

    #[get("/b")]
    async fn b<'a, 'b: 'a>(axum::extract::Path(id): axum::extract::Path<u32>) -> String {
        id.to_string()
    }
}

fn main() {}
