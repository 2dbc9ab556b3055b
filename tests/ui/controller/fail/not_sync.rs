use std::cell::Cell;

use session_axum::prelude::*;

// A controller that requests cannot share: one error, on its type, not
// one or two on each `&self` route as well.
#[derive(Default)]
pub struct Counter {
    hits: Cell<u32>,
}

#[controller("/count")]
impl Counter {
    #[get("/")]
    async fn show(&self) -> String {
        self.hits.get().to_string()
    }

    #[post("/")]
    async fn bump(&self) -> String {
        self.hits.set(self.hits.get() + 1);
        tokio::task::yield_now().await;
        self.hits.get().to_string()
    }

    #[get("/static")]
    async fn fixed() -> &'static str {
        "fixed"
    }
}

fn main() {}
