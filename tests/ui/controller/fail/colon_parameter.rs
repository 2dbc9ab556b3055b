use session_axum::prelude::*;

pub struct Users;

#[controller("/users")]
impl Users {
    #[delete("/:id")]
    async fn remove() -> &'static str {
        "gone"
    }
}

fn main() {}
