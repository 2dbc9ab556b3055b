use session_axum::session_data;

#[session_data(authenticated = logged_in)]
#[derive(Default)]
pub struct Info {
    pub auth: bool,
    pub name: String,
}

fn main() {}
