use session_axum::core::{FieldMap, SessionData};
use session_axum::session_data;

mod as_text {
    pub fn serialize<S: serde::Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let text: String = serde::Deserialize::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

fn seven() -> u32 {
    7
}

#[session_data(validate = valid)]
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Info {
    #[serde(rename = "n", alias = "old_name")]
    pub name: Option<String>,
    #[serde(default = "seven")]
    pub level: u32,
    #[serde(with = "as_text")]
    pub big: u64,
    #[serde(skip)]
    pub cache: Vec<u8>,
    // Not stored; decoding gives it serde's default, as serde would.
    #[serde(skip, default = "seven")]
    pub cached_level: u32,
}

fn valid(_: &Info) -> Result<(), &'static str> {
    Ok(())
}

fn main() {
    let info = Info { name: Some("a".into()), level: 1, big: 9, cache: vec![1], cached_level: 3 };
    let fields = info.encode().unwrap();
    assert_eq!(fields.get("n"), Some("\"a\""));
    assert_eq!(fields.get("big"), Some("\"9\""));
    assert!(fields.get("cache").is_none());
    let back = Info::decode(&fields).unwrap();
    assert!(fields.get("cached_level").is_none());
    assert_eq!(back, Info { cache: vec![], cached_level: 7, ..info });
    let old: FieldMap = [("old_name", "\"b\"")].into_iter().collect();
    let decoded = Info::decode(&old).unwrap();
    assert_eq!(decoded.name.as_deref(), Some("b"));
    assert_eq!(decoded.level, 7);
}
