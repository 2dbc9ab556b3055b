use session_axum::prelude::*;

pub struct Users;

#[controller("/users")]
impl Users {
    #[get("/{id}")]
    async fn one() -> &'static str {
        "one"
    }

    #[delete("/{name}")]
    async fn remove() -> &'static str {
        "removed"
    }
}

fn main() {}
