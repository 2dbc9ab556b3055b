use session_axum::prelude::*;

pub struct Ctl;

// An `unsafe(..)` attribute beside a route attribute in a `cfg_attr`.
#[controller("/c")]
impl Ctl {
    #[get("/x")]
    async fn x() -> &'static str {
        "x"
    }

    #[cfg_attr(all(), unsafe(export_name = "ctl_y"), get("/y"))]
    async fn y() -> &'static str {
        "y"
    }

    #[cfg_attr(all(), cfg_attr(all(), unsafe(no_mangle), post("/z")))]
    async fn z() -> &'static str {
        "z"
    }
}

fn main() {}
