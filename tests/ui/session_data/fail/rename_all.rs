use session_axum::session_data;

#[session_data]
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Prefs {
    pub user_name: String,
}

fn main() {}
