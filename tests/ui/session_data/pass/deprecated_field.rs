// A field on its way out, marked `#[deprecated]` while stored sessions still
// carry it: the generated impls and accessors are not uses the crate's lints
// should see, in a crate that denies them (`-D warnings` in CI).
#![deny(deprecated)]

use session_axum::prelude::*;

#[session_data]
#[derive(Debug, Clone, Default)]
pub struct Info {
    pub name: Option<String>,
    #[deprecated(note = "read `name`")]
    pub nickname: Option<String>,
}

/// A whole session type on its way out.
#[deprecated(note = "use `Info`")]
#[session_data]
#[derive(Debug, Clone, Default)]
pub struct OldInfo {
    pub name: Option<String>,
}

fn main() {}
