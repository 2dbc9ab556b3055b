use session_axum::prelude::*;

pub struct Members;

// A route path is joined to the base path: a parameter named in both.
#[controller("/orgs/{org}")]
impl Members {
    #[get("/{org}")]
    async fn one() -> &'static str {
        "one"
    }
}

pub struct Files;

// Nothing follows a catch-all but the base itself.
#[controller("/files/{*rest}")]
impl Files {
    #[get("/")]
    async fn any() -> &'static str {
        "any"
    }

    #[get("/meta")]
    async fn meta() -> &'static str {
        "meta"
    }
}

fn main() {}
