use session_axum::prelude::*;

pub struct Account;

#[controller("/account")]
impl Account {
    #[post("/password")]
    #[authenticated(recent_login_secs = 0)]
    async fn zero() -> &'static str {
        "zero"
    }

    #[post("/email")]
    #[authenticated(recent_login_secs = "10m")]
    async fn text() -> &'static str {
        "text"
    }

    #[delete("/")]
    #[authenticated(recent_login_secs = 600, recent_login_secs = 60)]
    async fn twice() -> &'static str {
        "twice"
    }

    #[post("/key")]
    #[authenticated(recent_login_secs = 18446744073709551616)]
    async fn too_large() -> &'static str {
        "too large"
    }
}

fn main() {}
