use session_axum::session_data;

#[session_data]
#[derive(Default)]
pub struct Info(Option<String>, u32);

fn main() {}
