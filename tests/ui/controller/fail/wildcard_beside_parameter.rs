use session_axum::prelude::*;

pub struct Files;

// The router tells a parameter from a catch-all at the same place in
// neither order, whatever the methods.
#[controller("/f")]
impl Files {
    #[get("/{a}")]
    async fn one() -> &'static str {
        "one"
    }

    #[post("/{*b}")]
    async fn rest() -> &'static str {
        "rest"
    }
}

pub struct Nested;

#[controller("/n")]
impl Nested {
    #[get("/{*all}")]
    async fn all() -> &'static str {
        "all"
    }

    #[get("/{id}/x")]
    async fn x() -> &'static str {
        "x"
    }

    #[get("/p{*all}")]
    async fn prefixed_all() -> &'static str {
        "all"
    }

    #[get("/p{id}")]
    async fn prefixed() -> &'static str {
        "x"
    }
}

fn main() {}
