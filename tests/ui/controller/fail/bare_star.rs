use session_axum::prelude::*;

pub struct Files;

#[controller("/files")]
impl Files {
    #[get("/*")]
    async fn any() -> &'static str {
        "any"
    }

    #[get("/:")]
    async fn colon() -> &'static str {
        "colon"
    }
}

fn main() {}
