use session_axum::prelude::*;

/// A function is not an interceptor: the error names the `fn` keyword only.
#[interceptor]
pub fn audit() {}

#[derive(Default)]
pub struct Audit;

/// An inherent impl neither: the error names its `impl` keyword.
#[interceptor]
impl Audit {
    pub fn name(&self) -> &'static str {
        "audit"
    }
}

fn main() {}
