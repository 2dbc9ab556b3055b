//! A small map from field name to serialised value.

use std::fmt;

/// Serialised field values are JSON text.
pub type FieldValue = Box<str>;

/// Field name to serialised (JSON) value, kept sorted by name.
///
/// Sessions hold a handful of fields, so a sorted vector beats a tree or hash
/// map in both memory and speed.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct FieldMap {
    entries: Vec<(Box<str>, FieldValue)>,
}

impl FieldMap {
    /// An empty map.
    pub const fn new() -> Self {
        Self {
            entries: Vec::new(),
        }
    }

    fn position(&self, name: &str) -> Result<usize, usize> {
        self.entries.binary_search_by(|(k, _)| (**k).cmp(name))
    }

    /// An empty map with room for `n` entries.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            entries: Vec::with_capacity(n),
        }
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.position(name).ok().map(|i| &*self.entries[i].1)
    }

    /// Whether `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.position(name).is_ok()
    }

    /// Sets `name`, returning the previous value.
    pub fn insert(
        &mut self,
        name: impl Into<Box<str>> + AsRef<str>,
        value: impl Into<FieldValue>,
    ) -> Option<FieldValue> {
        match self.position(name.as_ref()) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, value.into())),
            Err(i) => {
                self.entries.insert(i, (name.into(), value.into()));
                None
            }
        }
    }

    /// Removes `name`, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<FieldValue> {
        self.position(name).ok().map(|i| self.entries.remove(i).1)
    }

    /// Entries in name order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (&**k, &**v))
    }

    /// Names in order.
    pub fn names(&self) -> impl ExactSizeIterator<Item = &str> {
        self.entries.iter().map(|(k, _)| &**k)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Sum of name and value lengths, in bytes.
    pub fn byte_size(&self) -> usize {
        self.entries.iter().map(|(k, v)| k.len() + v.len()).sum()
    }

    /// Applies `set` and then `removed` on top of this map.
    pub fn apply(&mut self, set: &FieldMap, removed: &[Box<str>]) {
        for (k, v) in set.iter() {
            self.insert(k, v);
        }
        for k in removed {
            self.remove(k);
        }
    }

    /// Removes each entry of `read` whose value here is still the one read;
    /// an entry set to another value since is kept.
    pub fn remove_unchanged(&mut self, read: &FieldMap) {
        for (k, v) in read.iter() {
            if self.get(k) == Some(v) {
                self.remove(k);
            }
        }
    }

    /// Releases spare capacity (for maps kept long in memory).
    pub fn shrink_to_fit(&mut self) {
        self.entries.shrink_to_fit();
    }
}

/// Names each field with the size of its value, not the value: session
/// data may be personal data, and `Debug` output ends up in logs (a
/// `SessionRecord`, a `SessionState`, a panic message).
impl fmt::Debug for FieldMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Size(usize);
        impl fmt::Debug for Size {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "<{} bytes>", self.0)
            }
        }
        f.debug_map()
            .entries(self.iter().map(|(k, v)| (k, Size(v.len()))))
            .finish()
    }
}

impl<K: Into<Box<str>> + AsRef<str>, V: Into<FieldValue>> FromIterator<(K, V)> for FieldMap {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut map = FieldMap::new();
        for (k, v) in iter {
            map.insert(k, v);
        }
        map
    }
}

// Serialised as a JSON object whose values are embedded JSON, not strings.
impl serde::Serialize for FieldMap {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error as _, SerializeMap as _};
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (k, v) in self.iter() {
            let raw: &serde_json::value::RawValue =
                serde_json::from_str(v).map_err(S::Error::custom)?;
            map.serialize_entry(k, raw)?;
        }
        map.end()
    }
}

impl<'de> serde::Deserialize<'de> for FieldMap {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw: std::collections::BTreeMap<String, Box<serde_json::value::RawValue>> =
            serde::Deserialize::deserialize(deserializer)?;
        Ok(raw
            .into_iter()
            .map(|(k, v)| (k, Box::<str>::from(v)))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_get_remove_keep_order() {
        let mut m = FieldMap::new();
        assert_eq!(m.insert("b", "2"), None);
        assert_eq!(m.insert("a", "1"), None);
        assert_eq!(m.insert("b", "3").as_deref(), Some("2"));
        assert_eq!(m.names().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(m.get("b"), Some("3"));
        assert_eq!(m.remove("a").as_deref(), Some("1"));
        assert_eq!(m.get("a"), None);
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn apply_sets_then_removes() {
        let mut m: FieldMap = [("a", "1"), ("b", "2")].into_iter().collect();
        let set: FieldMap = [("b", "20"), ("c", "3")].into_iter().collect();
        m.apply(&set, &["a".into()]);
        assert_eq!(m.iter().collect::<Vec<_>>(), [("b", "20"), ("c", "3")]);
    }

    #[test]
    fn remove_unchanged_keeps_values_set_since() {
        let mut m: FieldMap = [("a", "1"), ("b", "20"), ("c", "3")].into_iter().collect();
        let read: FieldMap = [("a", "1"), ("b", "2"), ("z", "9")].into_iter().collect();
        m.remove_unchanged(&read);
        assert_eq!(m.iter().collect::<Vec<_>>(), [("b", "20"), ("c", "3")]);
    }

    #[test]
    fn serde_embeds_values_as_json() {
        let m: FieldMap = [("n", "{\"x\":[1,2]}"), ("s", "\"hi\"")]
            .into_iter()
            .collect();
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(json, r#"{"n":{"x":[1,2]},"s":"hi"}"#);
        let back: FieldMap = serde_json::from_str(&json).unwrap();
        assert_eq!(back, m);
    }
}
