use axum::extract::State;
use session_axum::prelude::*;

#[derive(Clone)]
pub struct AppState;

#[derive(Default)]
pub struct Ctl;

#[controller("/c")]
impl Ctl {
    #[get("/a")]
    async fn a(State(_state): State<AppState>) -> &'static str {
        "a"
    }

    #[post("/b")]
    async fn b(&self, _state: axum::extract::State<AppState>, Json(n): Json<u32>) -> String {
        n.to_string()
    }

    #[get("/t")]
    async fn t<T>() -> &'static str {
        "t"
    }
}

fn main() {}
