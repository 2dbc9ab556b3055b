use session_axum::session_data;

// `session.into()` is the prelude's `Into::into` on the handle itself.
#[session_data]
#[derive(Default)]
pub struct Route {
    pub into: Option<String>,
}

fn main() {}
