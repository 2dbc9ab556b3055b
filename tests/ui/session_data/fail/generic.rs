use session_axum::session_data;

#[session_data]
#[derive(Default)]
pub struct Info<T> {
    pub value: T,
}

fn main() {}
