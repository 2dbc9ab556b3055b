use session_axum::prelude::*;

#[derive(Default)]
pub struct Ctl;

#[controller("/c")]
impl Ctl {
    #[get("/x")]
    async fn x(&self, count: u32) -> String {
        count.to_string()
    }
}

fn main() {}
