//! A crate that forbids `unreachable_code` (or denies lints the generated
//! checks could raise) still takes controllers.
#![forbid(unreachable_code, unused)]

use session_axum::prelude::*;

#[derive(Default)]
pub struct Ctl;

#[controller("/c")]
impl Ctl {
    #[get("/a/{id}")]
    async fn a(&self, axum::extract::Path(id): axum::extract::Path<u32>) -> String {
        id.to_string()
    }

    #[post("/b")]
    async fn b(Json(n): Json<u32>) -> String {
        n.to_string()
    }
}

fn main() {}
