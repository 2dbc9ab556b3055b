use session_axum::prelude::*;

pub struct Public;

#[controller("/public")]
impl Public {
    #[get("/")]
    async fn index() -> &'static str {
        "public"
    }
}

fn main() {
    let _ = App::builder().add_controller::<Public>();
}
