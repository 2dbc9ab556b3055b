use session_axum::session_data;

#[session_data(group_id = team)]
#[derive(Default)]
pub struct Member {
    #[serde(skip)]
    pub team: Option<String>,
}

fn main() {}
