use session_axum::session_data;

#[session_data]
pub struct Info {
    pub name: String,
}

fn main() {}
