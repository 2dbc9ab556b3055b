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

    // In an argument's type too: the handler infers them, as for `&self`.
    #[get("/c")]
    async fn c<'a>(caller: Caller<'a>) -> String {
        caller.0.to_owned()
    }

    #[get("/d/{id}")]
    async fn d<'a>(&'a self, caller: Caller<'a>, axum::extract::Path(id): axum::extract::Path<u32>) -> String {
        format!("{}{}{id}", self.name, caller.0)
    }

    #[get("/e")]
    async fn e(caller: Caller<'_>) -> String {
        caller.0.to_owned()
    }
}

/// An extractor holding a borrow: of a `'static` string here.
pub struct Caller<'a>(&'a str);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Caller<'static> {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(_: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Caller("caller"))
    }
}

fn main() {}
