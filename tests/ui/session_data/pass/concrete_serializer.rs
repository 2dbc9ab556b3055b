// A `serialize_with` function written for the JSON the session stores: the
// struct derives no `Serialize`, so only serde_json's serializer calls it.
use session_axum::core::SessionData;
use session_axum::session_data;

fn as_text<W: std::io::Write>(
    v: &u64,
    s: &mut serde_json::Serializer<W>,
) -> Result<(), serde_json::Error> {
    serde::Serializer::serialize_str(s, &v.to_string())
}

#[session_data]
#[derive(Debug, Clone, Default)]
pub struct Big {
    #[serde(serialize_with = "as_text")]
    pub big: u64,
}

fn main() {
    let fields = Big { big: 9 }.encode().unwrap();
    assert_eq!(fields.get("big"), Some("\"9\""));
}
