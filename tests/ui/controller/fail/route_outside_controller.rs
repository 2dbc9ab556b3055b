use session_axum::get;

#[get("/health")]
async fn health() -> &'static str {
    "ok"
}

fn main() {}
