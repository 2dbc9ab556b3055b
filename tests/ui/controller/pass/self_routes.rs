// `&self` routes as axum users write them: `impl IntoResponse` returns, and
// `Self` in argument types.
use session_axum::prelude::*;

#[derive(Default, serde::Deserialize)]
pub struct Sums {
    pub x: u32,
}

#[controller("/s")]
impl Sums {
    #[get("/")]
    async fn index(&self) -> impl IntoResponse {
        format!("x = {}", self.x)
    }

    #[post("/assoc")]
    async fn assoc(Json(v): Json<Self>) -> String {
        v.x.to_string()
    }

    #[post("/method")]
    async fn method(&self, Json(v): Json<Self>) -> impl IntoResponse {
        (v.x + self.x).to_string()
    }
}

fn main() {}
