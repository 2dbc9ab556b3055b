use session_axum::session_data;

#[session_data]
#[derive(Default)]
pub struct Info {
    #[serde(flatten)]
    pub extra: std::collections::HashMap<String, String>,
}

fn main() {}
