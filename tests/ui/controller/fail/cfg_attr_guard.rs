use session_axum::prelude::*;

#[derive(Default)]
pub struct Ctl;

#[controller("/c")]
impl Ctl {
    #[get("/x")]
    #[cfg_attr(all(), authenticated(permissions = ["admin"]))]
    async fn x() -> &'static str {
        "x"
    }

    #[cfg_attr(all(), cfg_attr(all(), get("/y")))]
    async fn y() -> &'static str {
        "y"
    }
}

fn main() {}
