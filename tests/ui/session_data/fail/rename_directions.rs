// serde's two-direction `rename(..)`: the macro's own message, which says
// what it supports, not syn's "expected `=`".
use session_axum::session_data;

#[session_data]
#[derive(Debug, Clone, Default)]
pub struct Info {
    #[serde(rename(serialize = "n", deserialize = "n"))]
    pub name: Option<String>,
}

fn main() {}
