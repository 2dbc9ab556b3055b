use session_axum::prelude::*;

pub struct Ctl;

// Route and guard attributes on an impl item that is no method: the error
// says so, not that they sit outside a controller.
#[controller("/c")]
impl Ctl {
    #[get("/limit")]
    const LIMIT: u32 = 10;

    #[authenticated]
    const OTHER: u32 = 11;

    #[get("/")]
    async fn index() -> String {
        (Self::LIMIT + Self::OTHER).to_string()
    }
}

fn main() {}
