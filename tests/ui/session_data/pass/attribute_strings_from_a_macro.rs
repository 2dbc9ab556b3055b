//! Attribute strings handed in by a `macro_rules!`: the generated calls
//! keep their own hygiene.
use session_axum::session_data;

fn to_text<S: serde::Serializer>(value: &u32, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&value.to_string())
}

fn from_text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    let text: String = serde::Deserialize::deserialize(deserializer)?;
    text.parse().map_err(serde::de::Error::custom)
}

fn seven() -> u32 {
    7
}

macro_rules! data {
    ($name:ident, $ser:literal, $de:literal, $default:literal) => {
        #[session_data]
        #[derive(Debug, Clone, Default)]
        pub struct $name {
            #[serde(serialize_with = $ser, deserialize_with = $de)]
            pub x: u32,
            #[serde(default = $default)]
            pub y: u32,
        }
    };
}

data!(Info, "to_text", "from_text", "seven");

fn main() {}
