use session_axum::prelude::*;

/// Served only by the apps given it.
pub struct Admin;

#[controller("/admin", registry = false)]
impl Admin {
    #[get("/")]
    async fn index() -> &'static str {
        "admin"
    }
}

/// `registry = true` is the default, spelled out.
pub struct Public;

#[controller("/public", registry = true)]
impl Public {
    #[get("/")]
    async fn index() -> &'static str {
        "public"
    }
}

fn main() {
    let _ = App::builder().add_controller::<Admin>();
}
