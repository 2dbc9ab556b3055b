use session_axum::session_data;

// `group_id` and `authenticated` read fields of the types they take.
#[session_data(group_id = user, authenticated = user)]
#[derive(Debug, Clone, Default)]
pub struct Info {
    pub user: u64,
}

fn main() {}
