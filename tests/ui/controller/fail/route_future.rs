use std::sync::Mutex;

use session_axum::prelude::*;

static COUNT: Mutex<u32> = Mutex::new(0);

#[derive(Default)]
pub struct Ctl;

#[controller("/c")]
impl Ctl {
    #[get("/a")]
    async fn a(&self) -> String {
        let count = COUNT.lock().unwrap();
        tokio::task::yield_now().await;
        count.to_string()
    }

    #[get("/b")]
    async fn b(Json(n): Json<u32>) -> String {
        let count = COUNT.lock().unwrap();
        tokio::task::yield_now().await;
        (*count + n).to_string()
    }

    #[get("/c")]
    async fn c() -> Reply {
        Reply
    }

    #[get("/d")]
    async fn d(&self) -> Reply {
        Reply
    }
}

pub struct Reply;

fn main() {}
