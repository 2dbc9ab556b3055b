//! Hand-written `SessionData` types (what `#[session_data]` generates).

use session_core::data::{decode_value, encode_value};
use session_core::{FieldMap, FieldValue, SessionData, SessionDataError, Tracked};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Profile {
    pub name: Option<String>,
    pub age: Option<u32>,
    pub tags: Vec<String>,
    pub auth: bool,
    pub group: Option<String>,
}

impl SessionData for Profile {
    type Tracked = Tracked<Self>;
    const FIELDS: &'static [&'static str] = &["name", "age", "tags", "auth", "group"];

    fn encode_field(&self, index: usize) -> Result<FieldValue, SessionDataError> {
        match index {
            0 => encode_value("name", &self.name),
            1 => encode_value("age", &self.age),
            2 => encode_value("tags", &self.tags),
            3 => encode_value("auth", &self.auth),
            4 => encode_value("group", &self.group),
            _ => Err(SessionDataError::UnknownField(index)),
        }
    }

    fn decode(fields: &FieldMap) -> Result<Self, SessionDataError> {
        let mut p = Self::default();
        if let Some(v) = decode_value(fields, "name")? {
            p.name = v;
        }
        if let Some(v) = decode_value(fields, "age")? {
            p.age = v;
        }
        if let Some(v) = decode_value(fields, "tags")? {
            p.tags = v;
        }
        if let Some(v) = decode_value(fields, "auth")? {
            p.auth = v;
        }
        if let Some(v) = decode_value(fields, "group")? {
            p.group = v;
        }
        Ok(p)
    }

    fn validate(&self) -> Result<(), SessionDataError> {
        match self.age {
            Some(age) if age > 150 => Err(SessionDataError::validation(format!(
                "age {age} is not plausible"
            ))),
            _ => Ok(()),
        }
    }

    fn group_id(&self) -> Option<String> {
        self.group.clone()
    }

    fn is_authenticated(&self) -> bool {
        self.auth
    }
}

pub fn set_age(p: &mut Tracked<Profile>, age: Option<u32>) {
    p.set(1, |d| &mut d.age, age);
}

pub fn set_name(p: &mut Tracked<Profile>, name: Option<String>) {
    p.set(0, |d| &mut d.name, name);
}

pub fn update_tags<R>(p: &mut Tracked<Profile>, f: impl FnOnce(&mut Vec<String>) -> R) -> R {
    p.update(2, |d| &mut d.tags, f)
}

/// Two independent fields and a counter, for the HTTP tests.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counters {
    pub visits: u64,
    pub a: Option<String>,
    pub b: Option<String>,
}

impl SessionData for Counters {
    type Tracked = Tracked<Self>;
    const FIELDS: &'static [&'static str] = &["visits", "a", "b"];

    fn encode_field(&self, index: usize) -> Result<FieldValue, SessionDataError> {
        match index {
            0 => encode_value("visits", &self.visits),
            1 => encode_value("a", &self.a),
            2 => encode_value("b", &self.b),
            _ => Err(SessionDataError::UnknownField(index)),
        }
    }

    fn decode(fields: &FieldMap) -> Result<Self, SessionDataError> {
        Ok(Self {
            visits: decode_value(fields, "visits")?.unwrap_or_default(),
            a: decode_value(fields, "a")?.unwrap_or_default(),
            b: decode_value(fields, "b")?.unwrap_or_default(),
        })
    }
}
