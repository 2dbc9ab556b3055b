use session_axum::session_data;

#[session_data(group_id = group, group_id = group)]
#[derive(Default)]
pub struct Info {
    pub group: Option<String>,
}

fn main() {}
