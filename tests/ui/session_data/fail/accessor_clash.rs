use session_axum::session_data;

#[session_data]
#[derive(Default)]
pub struct Info {
    pub age: Option<u32>,
    pub set_age: bool,
}

fn main() {}
