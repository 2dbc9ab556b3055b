use session_axum::prelude::*;

pub struct LoginForm {
    pub name: String,
}

#[derive(Default)]
pub struct Ctl;

// The last argument is checked on its type too: a body whose type does not
// implement `Deserialize`, and a plain value where an extractor belongs.
#[controller("/c")]
impl Ctl {
    #[post("/login")]
    async fn login(Json(form): Json<LoginForm>) -> String {
        form.name
    }

    #[post("/again")]
    async fn again(&self, Json(form): Json<LoginForm>) -> String {
        form.name
    }

    #[get("/item/{id}")]
    async fn item(id: u32) -> String {
        id.to_string()
    }
}

fn main() {}
