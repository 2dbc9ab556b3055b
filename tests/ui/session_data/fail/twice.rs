// `#[session_data]` twice: one error on the second, not duplicate
// definitions of the generated `InfoTracked` and its impls.
use session_axum::session_data;

#[session_data]
#[session_data]
#[derive(Debug, Clone, Default)]
pub struct Info {
    pub name: Option<String>,
}

fn main() {}
