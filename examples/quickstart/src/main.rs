use session_axum::prelude::*;

#[session_data] // change tracking, defaults, validation
#[derive(Debug, Clone, Default)]
pub struct Info {
    pub name: Option<String>,
    pub age: Option<u32>,
    pub visits: u64,
}

pub struct SessionRoutes;

#[controller("/session")]
#[authenticated] // every route needs a principal: 401 otherwise
impl SessionRoutes {
    #[put("/info")]
    async fn store_info(mut session: Session<Info>) {
        session.set_age(Some(20)); // marks only `age` changed
        session.set_name(Some("Roger".into()));
    }
    #[post("/logout")] // a GET could be set off by any site's link
    async fn logout(auth: Auth) -> impl IntoResponse {
        auth.logout().await
    }
    #[get("/info/age")]
    async fn age(session: Session<Info>) -> Json<Option<u32>> {
        Json(*session.age())
    }
}

pub struct Visits;

#[controller("/")] // no #[authenticated]: anyone may visit
impl Visits {
    #[get("/")]
    async fn count(mut session: Session<Info>) -> String {
        session.update_visits(|n| *n += 1); // or `session.visits += 1`
        format!("visit {}", session.visits())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().init(); // store failures and refusals (a bad cookie: at debug)
    // Every #[controller] and #[interceptor] linked into the binary is picked up.
    let app = App::builder()
        .store(MemoryStore::new())
        .secret(Key::generate()) // kept across restarts: Key::load_or_create(path)?
        .secure(false) // plain-HTTP development only
        .build()?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    axum::serve(listener, app.into_router()).await?;
    Ok(())
}
