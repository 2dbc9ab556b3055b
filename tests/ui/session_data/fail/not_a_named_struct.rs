// A unit struct and a union: the error on the struct's name and on `union`
// (as on `enum` for an enum), not over the whole item with its docs and
// attributes.
use session_axum::session_data;

/// A unit struct.
#[session_data]
#[derive(Debug, Clone, Default)]
pub struct Unit;

#[session_data]
pub union Both {
    pub a: u32,
    pub b: f32,
}

fn main() {}
