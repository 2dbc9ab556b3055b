use session_axum::prelude::*;

#[derive(Default)]
pub struct Counter {
    hits: u64,
}

#[controller("/count")]
impl Counter {
    #[post("/")]
    async fn hit(self: &mut Self) -> String {
        self.hits += 1;
        self.hits.to_string()
    }

    #[post("/boxed")]
    async fn boxed(self: Box<Self>) -> String {
        self.hits.to_string()
    }
}

fn main() {}
