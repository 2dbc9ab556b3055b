// `rename_all` on a struct that derives no serde trait: the refusal alone,
// not also rustc's "cannot find attribute `serde`" for the container
// attribute left on the item emitted beside the error.
use session_axum::session_data;

#[session_data]
#[derive(Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct Prefs {
    pub user_name: String,
}

fn main() {}
