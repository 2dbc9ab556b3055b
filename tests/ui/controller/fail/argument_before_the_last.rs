use axum::Form;
use session_axum::prelude::*;

#[session_data]
#[derive(Debug, Clone, Default)]
pub struct Shop {
    pub views: u64,
}

#[derive(serde::Deserialize)]
pub struct LoginForm {
    pub name: String,
}

pub struct Ctl;

#[controller("/c")]
impl Ctl {
    // A path parameter taken as a plain `String`.
    #[get("/item/{id}")]
    async fn item(id: String, session: Session<Shop>) -> String {
        format!("{id}{}", session.views())
    }

    // A body extractor before the last argument.
    #[post("/login")]
    async fn login(Form(form): Form<LoginForm>, session: Session<Shop>) -> String {
        format!("{}{}", form.name, session.views())
    }

    // A last argument that is no extractor at all.
    #[get("/count")]
    async fn count(count: u32) -> String {
        count.to_string()
    }
}

fn main() {}
