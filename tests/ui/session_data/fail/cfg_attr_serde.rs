// A serde attribute inside `cfg_attr`: the macro cannot evaluate the cfg,
// and silently ignored it (serde's own derive renamed the field to "n"
// while the session stored it as "name"). Refused, as `#[cfg]` is.
use session_axum::session_data;

#[session_data]
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Info {
    #[cfg_attr(all(), serde(rename = "n"))]
    pub name: Option<String>,
}

fn main() {}
