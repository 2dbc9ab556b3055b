use session_axum::session_data;

#[session_data]
#[derive(Default)]
pub struct Info {
    #[serde(alias = "count")]
    pub count: u32,
}

fn main() {}
