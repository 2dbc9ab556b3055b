// A crate forbidding deprecated whose session data allows all other
// warnings on a field (`allow(warnings)` is accepted under the `forbid`):
// compiled before, so the code generated for it must carry no
// `allow(deprecated)`, an error under the `forbid`.
#![forbid(deprecated)]

use session_axum::prelude::*;

#[session_data]
#[derive(Debug, Clone, Default)]
pub struct Info {
    #[allow(warnings)]
    pub visits: u64,
}

fn main() {}
