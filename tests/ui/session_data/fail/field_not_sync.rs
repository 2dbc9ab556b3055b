// A field whose type is not `Sync` (`Cell` is `Serialize` and
// `Deserialize`): one error on the field's type, not a cascade through the
// generated `InfoTracked`, `Tracked<Info>` and `TrackedData`.
use std::cell::Cell;

use session_axum::session_data;

#[session_data]
#[derive(Debug, Clone, Default)]
pub struct Info {
    pub name: Option<String>,
    pub hits: Cell<u32>,
}

fn main() {}
