use session_axum::session_data;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NoDefault(u32);

#[session_data]
#[derive(Debug, Clone)]
pub struct Info {
    #[serde(default)]
    pub x: NoDefault,
    #[serde(default = "wrong_type")]
    pub z: u32,
    #[serde(serialize_with = "bad_ser")]
    pub b: u64,
}

impl Default for Info {
    fn default() -> Self {
        Self {
            x: NoDefault(0),
            z: 0,
            b: 0,
        }
    }
}

fn wrong_type() -> String {
    String::new()
}

fn bad_ser<S: serde::Serializer>(_: &u64, _: S) -> String {
    String::new()
}

fn main() {}
