use session_axum::prelude::*;

pub struct SessionRoutes;

#[controller("/session")]
impl SessionRoutes {
    #[get("info")]
    async fn info() -> &'static str {
        "info"
    }
}

fn main() {}
