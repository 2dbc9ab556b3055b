use axum::extract::Path;
use session_axum::prelude::*;

#[derive(Default)]
pub struct Ctl;

// Arguments whose types borrow, named like any other: one error each, on
// the type (a lifetime of the method's own included).
#[controller("/c")]
impl Ctl {
    #[get("/a")]
    async fn a(name: &str) -> String {
        name.to_owned()
    }

    #[get("/b")]
    async fn b(&self, name: &'static str, principal: Option<Principal>) -> String {
        format!("{name}{}", principal.is_some())
    }

    #[get("/c/{id}")]
    async fn c<'a>(Path(id): Path<&'a str>) -> String {
        id.to_owned()
    }
}

fn main() {}
