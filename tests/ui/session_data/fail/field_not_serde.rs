// A field whose type cannot be stored: one error, on the field's type (not
// on `#[session_data]`, and not one per generated use of the field).
use session_axum::session_data;

#[derive(Debug, Clone, Default)]
pub struct Opaque;

#[session_data]
#[derive(Debug, Clone, Default)]
pub struct Info {
    pub name: Option<String>,
    pub opaque: Opaque,
}

fn main() {}
