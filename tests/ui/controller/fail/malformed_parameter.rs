use session_axum::prelude::*;

pub struct Users;

#[controller("/users")]
impl Users {
    #[get("/{id")]
    async fn one() -> &'static str {
        "one"
    }
}

fn main() {}
