use session_axum::prelude::*;

pub struct Users;

#[controller("/users")]
impl Users {
    #[get("/")]
    fn list() -> &'static str {
        "list"
    }
}

fn main() {}
