use session_axum::prelude::*;

pub struct Files;

// axum's router takes text before a parameter in its segment, never after.
#[controller("/files")]
impl Files {
    #[get("/{name}.json")]
    async fn json() -> &'static str {
        "json"
    }

    #[get("/{stem}-{ext}")]
    async fn two() -> &'static str {
        "two"
    }

    #[get("/v{*rest}/x")]
    async fn rest() -> &'static str {
        "rest"
    }
}

fn main() {}
