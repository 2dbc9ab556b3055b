// A `cfg_attr` that expands to a `#[cfg]` on a parameter (a feature that
// turns a parameter off, say) removes it from the method as `#[cfg]` does:
// a `&self` route's generated handler must take and pass it exactly when
// the method does, for the route to compile.
#![allow(dead_code)]

use axum::extract::Path;
use session_axum::prelude::*;

#[derive(Default)]
pub struct Feed;

#[controller("/feed")]
impl Feed {
    #[get("/method/{id}")]
    async fn method(
        &self,
        #[cfg_attr(all(), cfg(any()))] principal: Option<Principal>,
        Path(id): Path<u32>,
    ) -> String {
        id.to_string()
    }

    #[get("/nested/{id}")]
    async fn nested(
        &self,
        #[cfg_attr(all(), cfg_attr(all(), cfg(any())))] principal: Option<Principal>,
        Path(id): Path<u32>,
    ) -> String {
        id.to_string()
    }

    #[get("/kept")]
    async fn kept(&self, #[cfg_attr(any(), cfg(any()))] principal: Option<Principal>) -> String {
        principal.map_or_else(String::new, |p| p.user_id)
    }
}

fn main() {}
