//! A skipped field whose type is not `Sync`, in a struct the user declares
//! `Send + Sync` by hand: `SessionData` asks the struct for `Send + Sync`.
use std::cell::Cell;

use session_axum::prelude::*;

#[session_data]
#[derive(Default)]
pub struct Counter {
    pub hits: u32,
    /// Only touched through `&mut self`.
    #[serde(skip)]
    scratch: Cell<u32>,
}

// SAFETY: `scratch` is only used through `&mut Counter`.
unsafe impl Sync for Counter {}

fn main() {
    let c = Counter::default();
    c.scratch.set(1);
    assert_eq!(c.hits, 0);
}
