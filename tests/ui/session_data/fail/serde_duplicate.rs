// Repeated serde keys on one field: serde refuses them; without a serde
// derive nothing else would, and the macro silently took the last one
// (`x` stored as "b", `y` defaulting to 0, `z` written by `other`).
use session_axum::session_data;

#[session_data]
#[derive(Debug, Clone, Default)]
pub struct Info {
    #[serde(rename = "a", rename = "b")]
    pub x: u32,
    #[serde(default = "seven")]
    #[serde(default)]
    pub y: u32,
    #[serde(with = "m", serialize_with = "other")]
    pub z: u32,
}

fn seven() -> u32 {
    7
}

fn other<S: serde::Serializer>(v: &u32, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u32(*v + 1)
}

mod m {
    pub fn serialize<S: serde::Serializer>(v: &u32, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(*v)
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        serde::Deserialize::deserialize(d)
    }
}

fn main() {}
