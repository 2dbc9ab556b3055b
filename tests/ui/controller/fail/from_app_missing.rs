use session_axum::prelude::*;

pub struct Accounts {
    pub greeting: String,
}

#[controller("/accounts", from_app)]
impl Accounts {
    #[get("/")]
    async fn hello(&self) -> String {
        self.greeting.clone()
    }
}

fn main() {}
