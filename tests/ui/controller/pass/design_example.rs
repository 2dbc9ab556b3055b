use session_axum::prelude::*;

#[session_data]
#[derive(Debug, Clone, Default)]
pub struct Info {
    pub name: Option<String>,
    pub age: Option<u32>,
}

pub struct SessionRoutes;

#[controller("/session")]
#[authenticated]
impl SessionRoutes {
    #[put("/info")]
    async fn store_info(mut session: Session<Info>) {
        session.set_age(Some(20));
        session.set_name(Some("Roger".into()));
    }

    #[get("/logout")]
    async fn logout(auth: Auth) -> impl IntoResponse {
        auth.logout().await
    }

    #[get("/info/age")]
    async fn age(session: Session<Info>) -> Json<Option<u32>> {
        Json(*session.age())
    }
}

#[derive(Default)]
pub struct Items;

#[authenticated(permissions = ["admin"])]
#[controller("/items")]
impl Items {
    #[get]
    async fn list(&self) -> &'static str {
        "list"
    }

    #[get("/{id}/{*rest}")]
    #[unauthenticated]
    async fn one(&self, axum::extract::Path((id, rest)): axum::extract::Path<(u32, String)>) -> String {
        format!("{id}/{rest}")
    }

    #[delete("/{id}")]
    async fn remove() {}

    #[patch("/{id}")]
    async fn edit() {}

    #[post("/")]
    async fn create() {}
}

fn main() {
    let app = App::builder().store(MemoryStore::new()).secret(Key::generate()).build().unwrap();
    assert!(app.routes().contains(&"PUT /session/info".to_owned()));
    assert!(app.routes().contains(&"GET /items/{id}/{*rest}".to_owned()));
    // `#[get]` with no path and `#[post("/")]` are both the base path.
    assert!(app.routes().contains(&"GET /items".to_owned()));
    assert!(app.routes().contains(&"POST /items".to_owned()));
    let _router: axum::Router = app.into_router();
}
