//! Routes under a base path with parameters (names of their own) and
//! under a base ending in a catch-all (the base itself).
use session_axum::prelude::*;

pub struct Members;

#[controller("/orgs/{org}")]
impl Members {
    #[get("/")]
    async fn org() -> &'static str {
        "org"
    }

    #[get("/users/{user}")]
    async fn user() -> &'static str {
        "user"
    }

    #[get("/files/{*path}")]
    async fn file() -> &'static str {
        "file"
    }
}

pub struct Files;

#[controller("/files/{*rest}")]
impl Files {
    #[get("/")]
    async fn any() -> &'static str {
        "any"
    }
}

fn main() {
    let app = App::builder()
        .store(MemoryStore::new())
        .secret(Key::generate())
        .build();
    assert!(app.is_ok(), "{:?}", app.err());
}
