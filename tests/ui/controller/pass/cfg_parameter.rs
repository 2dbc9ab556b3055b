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

    // The body extractor is last once the argument after it is gone: the
    // check that arguments before the last read no body leaves it alone.
    #[post("/body-last")]
    async fn body_last(Json(n): Json<u32>, #[cfg(any())] extra: Option<Principal>) -> String {
        n.to_string()
    }

    #[post("/body-last-self")]
    async fn body_last_self(
        &self,
        principal: Option<Principal>,
        #[cfg(all())] text: String,
        #[cfg(any())] extra: Option<Principal>,
    ) -> String {
        format!("{}{text}", principal.map_or_else(String::new, |p| p.user_id))
    }
}

fn main() {}
