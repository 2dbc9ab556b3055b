use session_axum::session_data;

#[session_data]
#[derive(Default)]
pub struct Info {
    pub name: Option<String>,
    #[cfg(any())]
    pub debug: u32,
}

fn main() {}
