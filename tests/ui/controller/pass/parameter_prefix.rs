use session_axum::prelude::*;

pub struct Files;

// A parameter may follow static text in its segment, as axum's router allows.
#[controller("/files")]
impl Files {
    #[get("/file-{name}")]
    async fn file() -> &'static str {
        "file"
    }

    #[get("/v{*rest}")]
    async fn rest() -> &'static str {
        "rest"
    }

    // Unlike a whole-segment `{name}`, a prefixed one overlaps no catch-all.
    #[get("/tree/{*path}")]
    async fn tree() -> &'static str {
        "tree"
    }

    #[get("/tree/v{version}")]
    async fn version() -> &'static str {
        "version"
    }
}

fn main() {}
