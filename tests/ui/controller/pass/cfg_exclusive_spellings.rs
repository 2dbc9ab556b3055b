use session_axum::prelude::*;

pub struct Users;

// Only one of the two routes exists in a build: their spellings never meet.
#[controller("/users")]
impl Users {
    #[cfg(debug_assertions)]
    #[get("/{id}")]
    async fn show() -> &'static str {
        "debug"
    }

    #[cfg(not(debug_assertions))]
    #[post("/{name}")]
    async fn rename() -> &'static str {
        "release"
    }
}

fn main() {}
