//! Typed session data: the [`SessionData`] contract, field maps and change tracking.

mod bounds;
mod compare;
mod error;
mod fields;
mod finite;
mod tracked;

#[doc(hidden)]
pub use bounds::{
    DeserializeField, ProbeSerialized, ProbeUnserialized, SerdeProbe, SerializeField, SharedField,
};
#[doc(hidden)]
pub use compare::{CompareByValue, CompareUnknown, FieldCompare};
pub use error::SessionDataError;
pub use fields::{FieldMap, FieldValue};
pub use tracked::{FieldSet, Tracked, TrackedData};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Typed session data, stored field by field.
///
/// `#[session_data]` implements this; it can also be written by hand. Each
/// field is stored under its name as JSON, so adding a field never breaks
/// stored sessions (a missing field takes its default) and persist can write
/// only the fields that changed. A field's own type is decoded by serde as
/// it is: a nested struct that gains a field needs `#[serde(default)]` on it
/// for the values stored before to decode (README, "Deploying and upgrading").
///
/// ```
/// use session_core::{FieldMap, FieldValue, SessionData, SessionDataError, Tracked};
/// use session_core::data::{decode_value, encode_value};
///
/// #[derive(Debug, Default)]
/// struct Visits { count: u64 }
///
/// impl SessionData for Visits {
///     type Tracked = Tracked<Self>;
///     const FIELDS: &'static [&'static str] = &["count"];
///
///     fn encode_field(&self, index: usize) -> Result<FieldValue, SessionDataError> {
///         match index {
///             0 => encode_value("count", &self.count),
///             _ => Err(SessionDataError::UnknownField(index)),
///         }
///     }
///
///     fn decode(fields: &FieldMap) -> Result<Self, SessionDataError> {
///         let mut data = Self::default();
///         if let Some(count) = decode_value(fields, "count")? {
///             data.count = count;
///         }
///         Ok(data)
///     }
/// }
///
/// let fields = Visits { count: 3 }.encode().unwrap();
/// assert_eq!(fields.get("count"), Some("3"));
/// assert_eq!(Visits::decode(&FieldMap::new()).unwrap().count, 0);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not session data",
    label = "`{Self}` does not implement `SessionData`",
    note = "add `#[session_data]` to the struct (or implement `SessionData` by hand)"
)]
pub trait SessionData: Default + Send + Sync + Sized + 'static {
    /// What `Session<Self>` dereferences to: [`Tracked<Self>`] for hand-written
    /// impls; `#[session_data]` generates a type with per-field accessors.
    type Tracked: TrackedData<Data = Self>;

    /// Stored field names; the position of a name is its field index.
    const FIELDS: &'static [&'static str];

    /// Encodes the field at `index` as JSON.
    fn encode_field(&self, index: usize) -> Result<FieldValue, SessionDataError>;

    /// Decodes from stored fields; fields that are missing take their default.
    fn decode(fields: &FieldMap) -> Result<Self, SessionDataError>;

    /// Checks decoded data; an error means the stored session is treated as
    /// invalid. Checked before a change is written too: a handle whose data
    /// fails it does not commit (the request fails instead of storing what
    /// the next request would refuse). The check sees this request's view;
    /// stores merge concurrent requests' changes of different fields, so a
    /// rule across fields also needs
    /// [`Session::require_unchanged_revision`](crate::Session::require_unchanged_revision).
    fn validate(&self) -> Result<(), SessionDataError> {
        Ok(())
    }

    /// The session group (hexancore's `getSessionGroupId`), if the type defines one.
    fn group_id(&self) -> Option<String> {
        None
    }

    /// Whether the data marks the session authenticated (hexancore's `isAuthenticated`).
    fn is_authenticated(&self) -> bool {
        false
    }

    /// Checks a value about to be written for field `index`: `Ok` when the
    /// next request can read it. `#[session_data]` checks fields with their
    /// own serializer, which are not walked for NaN ([`check_reads_back`]).
    fn check_written(index: usize, json: &str) -> Result<(), SessionDataError> {
        let _ = (index, json);
        Ok(())
    }

    /// Other names field `index` is read from when its own is not stored
    /// (serde's `alias`), in the order decoding tries them.
    fn aliases(index: usize) -> &'static [&'static str] {
        let _ = index;
        &[]
    }

    /// Whether field `index` equals the value its stored JSON `stored`
    /// decodes to, for encodings that are not canonical (a `HashSet` lists
    /// its items in any order). `None` when the type cannot tell: the
    /// encoded bytes are compared then. `#[session_data]` answers for
    /// fields whose type implements `PartialEq`; the session asks only when
    /// the two encodings hold the same items in another order, so an `==`
    /// coarser than the data hides no change but a reordering (an
    /// `IndexSet`, whose `==` ignores the order it keeps). Values holding an
    /// integer a JSON `Value` cannot hold exactly are compared as bytes.
    fn same_as_stored(&self, index: usize, stored: &str) -> Option<bool> {
        let _ = (index, stored);
        None
    }

    /// Encodes every field.
    fn encode(&self) -> Result<FieldMap, SessionDataError> {
        let mut map = FieldMap::new();
        for (index, name) in Self::FIELDS.iter().enumerate() {
            map.insert(*name, self.encode_field(index)?);
        }
        Ok(map)
    }

    /// Decodes, then validates.
    fn decode_valid(fields: &FieldMap) -> Result<Self, SessionDataError> {
        let data = Self::decode(fields)?;
        data.validate()?;
        Ok(data)
    }
}

/// Encodes one value as JSON, naming `field` in the error. A NaN or
/// infinite float is an error: JSON has no such number, and the `null`
/// serde_json writes instead would not read back as the value.
pub fn encode_value<V: Serialize + ?Sized>(
    field: &str,
    value: &V,
) -> Result<FieldValue, SessionDataError> {
    let encode_error = |message: String| SessionDataError::Encode {
        field: field.to_owned(),
        message,
    };
    let mut buf = EncodeBuf::default();
    serde_json::to_writer(&mut buf, value).map_err(|e| encode_error(e.to_string()))?;
    let json = buf.into_json().map_err(|e| encode_error(e.to_string()))?;
    // Such a float comes out as `null`: only then is the value walked.
    if json.contains("null") && finite::holds_non_finite(value) {
        return Err(encode_error(
            "a NaN or infinite float, which JSON cannot hold".to_owned(),
        ));
    }
    Ok(json)
}

/// Values encoded up to this size are written on the stack first.
const INLINE_VALUE: usize = 64;

/// Where [`encode_value`] writes: on the stack while the value fits, so
/// that a small value costs one allocation of its exact size (serde_json's
/// `to_string` starts with 128 bytes and shrinks them to fit).
struct EncodeBuf {
    inline: [u8; INLINE_VALUE],
    len: usize,
    // Everything written, once it outgrew `inline`.
    spilled: Vec<u8>,
}

impl Default for EncodeBuf {
    fn default() -> Self {
        Self {
            inline: [0; INLINE_VALUE],
            len: 0,
            spilled: Vec::new(),
        }
    }
}

impl EncodeBuf {
    fn into_json(self) -> Result<FieldValue, std::str::Utf8Error> {
        if self.spilled.is_empty() {
            return std::str::from_utf8(&self.inline[..self.len]).map(Box::from);
        }
        String::from_utf8(self.spilled)
            .map(String::into_boxed_str)
            .map_err(|e| e.utf8_error())
    }
}

impl std::io::Write for EncodeBuf {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.write_all(bytes)?;
        Ok(bytes.len())
    }

    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if self.spilled.is_empty() {
            let end = self.len + bytes.len();
            if let Some(room) = self.inline.get_mut(self.len..end) {
                room.copy_from_slice(bytes);
                self.len = end;
                return Ok(());
            }
            self.spilled.reserve(end.max(2 * INLINE_VALUE));
            self.spilled.extend_from_slice(&self.inline[..self.len]);
        }
        self.spilled.extend_from_slice(bytes);
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Whether `json`, about to be written for `field` by its own serializer,
/// decodes as the next request will decode it (`decode`). Checked only when
/// it holds a `null`, which is what serde_json writes for a NaN or infinite
/// float: stored, such a value would make the whole session read as
/// invalid. What `#[session_data]` generates in
/// [`SessionData::check_written`] for fields with their own serializer.
#[doc(hidden)]
pub fn check_reads_back(
    field: &str,
    json: &str,
    decode: impl FnOnce(&str) -> Result<(), SessionDataError>,
) -> Result<(), SessionDataError> {
    if !json.contains("null") {
        return Ok(());
    }
    decode(json).map_err(|error| SessionDataError::Encode {
        field: field.to_owned(),
        message: format!(
            "the value would not read back (a NaN or infinite float is written as null): {error}"
        ),
    })
}

/// Decodes the JSON stored under `field`, `None` when absent.
pub fn decode_value<V: DeserializeOwned>(
    fields: &FieldMap,
    field: &str,
) -> Result<Option<V>, SessionDataError> {
    fields
        .get(field)
        .map(|raw| decode_raw(field, raw))
        .transpose()
}

/// Decodes one JSON value, naming `field` in the error.
pub fn decode_raw<V: DeserializeOwned>(field: &str, raw: &str) -> Result<V, SessionDataError> {
    serde_json::from_str(raw).map_err(|e| SessionDataError::InvalidField {
        field: field.to_owned(),
        message: json_error_message(&e),
    })
}

/// `error` as text without the stored value it quotes: serde's messages
/// show the value that did not fit (`invalid type: string "ada@example.com",
/// expected u32`), which is the user's data, and the message goes into log
/// lines and errors. What the type expected and where stay; every quoted
/// span before `, expected` (the value, or an unknown variant's name) is
/// shown as `"…"` or `` `…` ``, and so is any quoted span of a message
/// serde did not word itself (a type's own `Deserialize`).
#[doc(hidden)]
pub fn json_error_message(error: &serde_json::Error) -> String {
    let text = error.to_string();
    if !error.is_data() {
        // Syntax and end-of-input errors name a position, never a value.
        return text;
    }
    redact_quoted(&text)
}

/// `text` without what serde quotes from the data: its leading words up to
/// the first quote (`invalid type: string`, `unknown variant`), then from
/// the last `, expected ` on (what the type wanted, and where), which serde
/// words from the type, never from the data. The quoted value itself is not
/// scanned: serde writes a variant's or a key's name between backticks
/// without escaping them. A message naming a field of the type (`missing
/// field`, `duplicate field`) stays whole.
fn redact_quoted(text: &str) -> String {
    if text.starts_with("missing field") || text.starts_with("duplicate field") {
        return text.to_owned();
    }
    let Some(quote) = text.find(['"', '`']) else {
        return text.to_owned();
    };
    let lead = text[..quote].trim_end();
    match text.rfind(", expected ").filter(|&at| at > quote) {
        Some(at) => format!("{lead} …{}", &text[at..]),
        None => format!("{lead} …"),
    }
}

/// Encodes a field through a custom serializer (`#[serde(with = ..)]`,
/// `#[serde(serialize_with = ..)]`). Unlike [`encode_value`], it does not
/// look for NaN or infinite floats: the function may take serde_json's
/// serializer alone, and it runs once. `#[session_data]` checks instead that
/// a `null` it wrote decodes again before it is written ([`check_reads_back`]).
pub fn encode_with<F>(field: &str, serialize: F) -> Result<FieldValue, SessionDataError>
where
    F: FnOnce(&mut serde_json::Serializer<&mut Vec<u8>>) -> Result<(), serde_json::Error>,
{
    let encode_error = |message: String| SessionDataError::Encode {
        field: field.to_owned(),
        message,
    };
    let mut buf = Vec::new();
    serialize(&mut serde_json::Serializer::new(&mut buf))
        .map_err(|e| encode_error(e.to_string()))?;
    String::from_utf8(buf)
        .map(String::into_boxed_str)
        .map_err(|e| encode_error(e.to_string()))
}

/// Decodes a field through a custom deserializer (`#[serde(with = ..)]`,
/// `#[serde(deserialize_with = ..)]`).
pub fn decode_with<'r, V, F>(
    field: &str,
    raw: &'r str,
    deserialize: F,
) -> Result<V, SessionDataError>
where
    F: FnOnce(
        &mut serde_json::Deserializer<serde_json::de::StrRead<'r>>,
    ) -> Result<V, serde_json::Error>,
{
    let mut de = serde_json::Deserializer::from_str(raw);
    deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v))
        .map_err(|e| SessionDataError::InvalidField {
            field: field.to_owned(),
            message: json_error_message(&e),
        })
}

/// Field types usable as `#[session_data(group_id = field)]`.
#[diagnostic::on_unimplemented(
    message = "a `group_id` field must be `String` or `Option<String>`, not `{Self}`",
    label = "this field is `{Self}`",
    note = "the group id names the user whose sessions are listed and revoked together: keep it as text (`user_id.to_string()`)"
)]
pub trait GroupIdSource {
    /// The group id.
    fn group_id(&self) -> Option<String>;
}

impl GroupIdSource for String {
    fn group_id(&self) -> Option<String> {
        Some(self.clone())
    }
}

impl GroupIdSource for Option<String> {
    fn group_id(&self) -> Option<String> {
        self.clone()
    }
}

/// What a `#[session_data(validate = f)]` function returns: `Result<(), E>`
/// with `E: Display`, whose message becomes
/// [`SessionDataError::Validation`].
#[diagnostic::on_unimplemented(
    message = "a `validate` function must return `Result<(), E>` with `E: Display`, not `{Self}`",
    label = "this returns `{Self}`"
)]
pub trait ValidationOutcome {
    /// `Ok(())`, or the validation error.
    fn into_validation(self) -> Result<(), SessionDataError>;
}

impl<E: std::fmt::Display> ValidationOutcome for Result<(), E> {
    fn into_validation(self) -> Result<(), SessionDataError> {
        self.map_err(SessionDataError::validation)
    }
}

/// Field types usable as `#[session_data(authenticated = field)]`.
#[diagnostic::on_unimplemented(
    message = "an `authenticated` field must be `bool` or an `Option`, not `{Self}`",
    label = "this field is `{Self}`",
    note = "the session is authenticated when the field is `true` or `Some(..)`"
)]
pub trait AuthenticatedSource {
    /// Whether the session is authenticated.
    fn is_authenticated(&self) -> bool;
}

impl AuthenticatedSource for bool {
    fn is_authenticated(&self) -> bool {
        *self
    }
}

impl<T> AuthenticatedSource for Option<T> {
    fn is_authenticated(&self) -> bool {
        self.is_some()
    }
}

#[cfg(test)]
mod json_error_tests {
    use super::*;

    fn message<V: DeserializeOwned + std::fmt::Debug>(raw: &str) -> String {
        match decode_raw::<V>("f", raw).unwrap_err() {
            SessionDataError::InvalidField { message, .. } => message,
            other => panic!("{other:?}"),
        }
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    enum Plan {
        Free,
        Paid,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Prefs {
        theme: Option<String>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Required {
        theme: String,
    }

    #[test]
    fn a_value_that_does_not_fit_its_type_is_not_quoted() {
        let wrong_type = message::<u32>(r#""ada@example.com""#);
        assert!(!wrong_type.contains("ada"), "{wrong_type}");
        assert!(wrong_type.contains("expected u32"), "{wrong_type}");
        let escaped = message::<u32>(r#""a\", expected b""#);
        assert!(!escaped.contains("expected b"), "{escaped}");
        let number = message::<String>("123456789");
        assert!(!number.contains("123456789"), "{number}");
        assert!(number.contains("expected a string"), "{number}");
        let variant = message::<Plan>(r#""Gold-ada""#);
        assert!(!variant.contains("ada"), "{variant}");
        assert!(
            variant.contains("`Free`"),
            "what was expected stays: {variant}"
        );
        let value = message::<u8>("300");
        assert!(!value.contains("300"), "{value}");
        // A syntax error names a place only, and stays as it is.
        let syntax = message::<u32>("{");
        assert!(syntax.contains("line 1"), "{syntax}");
        // serde writes a variant's or a key's name unescaped: a backtick in
        // it must not end the hidden part early.
        let backtick = message::<Plan>(r#""x`ada@example.com""#);
        assert!(!backtick.contains("ada@"), "{backtick}");
        assert!(backtick.contains("`Free`"), "{backtick}");
        let key = message::<Prefs>(r#"{"a`ada@example.com": 1}"#);
        assert!(!key.contains("ada@"), "{key}");
        assert!(key.contains("`theme`"), "{key}");
        let missing = message::<Required>("{}");
        assert!(missing.contains("missing field `theme`"), "{missing}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values that fit the stack buffer, fill it, outgrow it in one write
    /// or a later one, encode as serde_json writes them.
    #[test]
    fn values_encode_as_serde_json_writes_them_at_any_size() {
        for n in [0, 1, 61, 62, 63, 64, 65, 200] {
            let text = "x".repeat(n);
            let list = vec![7u64; n];
            assert_eq!(
                &*encode_value("f", &text).unwrap(),
                serde_json::to_string(&text).unwrap()
            );
            assert_eq!(
                &*encode_value("f", &list).unwrap(),
                serde_json::to_string(&list).unwrap()
            );
        }
        assert_eq!(
            &*encode_value("f", &u64::MAX).unwrap(),
            "18446744073709551615"
        );
        assert!(matches!(
            encode_value("f", &vec![1.0, f64::NAN]),
            Err(SessionDataError::Encode { .. })
        ));
        assert_eq!(&*encode_value("f", &Option::<u8>::None).unwrap(), "null");
    }
}
