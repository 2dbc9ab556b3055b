use session_axum::session_data;

#[session_data]
#[derive(Default)]
pub struct Info {
    pub name: Option<String>,
    pub user_id: Option<String>,
}

fn main() {}
