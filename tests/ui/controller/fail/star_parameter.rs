use session_axum::prelude::*;

pub struct Files;

#[controller("/files")]
impl Files {
    #[get("/*rest")]
    async fn any() -> &'static str {
        "any"
    }
}

fn main() {}
