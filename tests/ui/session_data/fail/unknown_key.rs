use session_axum::session_data;

#[session_data(validator = check)]
#[derive(Default)]
pub struct Info {
    pub age: u32,
}

fn main() {}
