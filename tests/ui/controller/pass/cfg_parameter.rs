// A route parameter under `#[cfg]` (stable on function parameters): the route
// takes the parameter exactly when the method does, for `&self` routes as for
// associated functions.
#![allow(dead_code)]

use session_axum::prelude::*;

#[derive(Default)]
pub struct Feed;

#[controller("/feed")]
impl Feed {
    #[get("/method")]
    async fn method(&self, #[cfg(any())] principal: Option<Principal>) -> &'static str {
        "method"
    }

    #[get("/method-kept")]
    async fn method_kept(&self, #[cfg(all())] principal: Option<Principal>) -> String {
        principal.map_or_else(String::new, |p| p.user_id)
    }

    #[get("/assoc")]
    async fn assoc(#[cfg(any())] principal: Option<Principal>) -> &'static str {
        "assoc"
    }
}

fn main() {}
