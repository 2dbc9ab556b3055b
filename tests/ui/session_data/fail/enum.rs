use session_axum::session_data;

#[session_data]
#[derive(Default)]
pub enum Info {
    #[default]
    Empty,
}

fn main() {}
