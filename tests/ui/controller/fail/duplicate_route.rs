use session_axum::prelude::*;

pub struct Users;

#[controller("/users")]
impl Users {
    #[get("/{id}")]
    async fn one() -> &'static str {
        "one"
    }

    #[get("/{name}")]
    async fn by_name() -> &'static str {
        "by name"
    }
}

fn main() {}
