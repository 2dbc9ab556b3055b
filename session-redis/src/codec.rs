//! The layout of a session hash, and its encoding and decoding.
//!
//! | field | holds |
//! | --- | --- |
//! | `_m` | the metadata, packed: `<layout>:<created>:<last seen>:<expires>:<revision>` |
//! | `_b` | binding as JSON (bound sessions only) |
//! | `_u` | the bound user id, for the scripts' ownership checks |
//! | `_w` | a cluster store's last write id (see [`scripts`](crate::scripts)); not part of the record |
//! | `f:<name>` | data field `<name>`, JSON text |
//! | `l:<name>` | flash value `<name>`, JSON text |
//!
//! In `_m`, `<layout>` is [`LAYOUT`] and the other parts are unsigned
//! decimal integers up to `u64::MAX` (written without leading zeros, read
//! with them too): times in milliseconds since the epoch (the key itself
//! expires at `<expires>` too, by `PEXPIREAT`) and the revision. Packing the
//! five fixed items into one field keeps a counter session's `HGETALL` reply
//! at four strings. The scripts read and rewrite `_m` themselves (see
//! [`scripts`](crate::scripts)), so both sides must agree on this layout; a
//! new layout takes a new [`LAYOUT`] number, and a record whose layout is
//! unknown (including layout 1, one hash field per metadata item, with its
//! version in `_v`) is [`StoreError::Corrupt`].

use std::io::Write as _;

use redis::{RedisWrite, ToRedisArgs, Value};
use session_core::{
    Binding, FieldMap, SessionId, SessionInfo, SessionPatch, SessionRecord, StoreError, Timestamp,
};

/// The version of this hash layout, the first part of `_m`.
pub(crate) const LAYOUT: &str = "2";

pub(crate) const META: &str = "_m";
pub(crate) const BINDING: &str = "_b";
pub(crate) const USER: &str = "_u";
pub(crate) const FIELD: &str = "f:";
pub(crate) const FLASH: &str = "l:";
/// Where layout 1 kept its format version; only read to name that layout in
/// the error about it.
const LEGACY_VERSION: &str = "_v";

/// The metadata fields a listing reads, in the order [`decode_info`] expects.
pub(crate) const INFO_FIELDS: [&str; 3] = [META, BINDING, USER];

/// The latest instant Redis is asked to expire a key at: a key's own TTL is
/// clamped to it (year 9999), `_m` keeps the exact value.
const MAX_EXPIRE_AT_MS: u64 = 253_402_300_799_999;

/// The `PEXPIREAT` argument for an expiry.
pub(crate) fn expire_at(expires_at: Timestamp) -> u64 {
    expires_at.as_millis().min(MAX_EXPIRE_AT_MS)
}

/// One command argument made of several pieces (a namespace and a name, a
/// key's parts), written straight into the command.
pub(crate) struct Concat<'a, const N: usize>(pub(crate) [&'a [u8]; N]);

impl<const N: usize> ToRedisArgs for Concat<'_, N> {
    fn write_redis_args<W: ?Sized + RedisWrite>(&self, out: &mut W) {
        let mut arg = out.writer_for_next_arg();
        for piece in self.0 {
            // Writing into a command's own buffer cannot fail.
            let _ = arg.write_all(piece);
        }
    }
}

/// The fixed metadata of a record, as packed in `_m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Meta {
    pub(crate) created: Timestamp,
    pub(crate) last_seen: Timestamp,
    pub(crate) expires: Timestamp,
    pub(crate) revision: u64,
}

impl Meta {
    pub(crate) fn of(record: &SessionRecord) -> Self {
        Self {
            created: record.created_at,
            last_seen: record.last_seen,
            expires: record.expires_at,
            revision: record.revision,
        }
    }

    /// The `_m` value.
    pub(crate) fn encode(&self) -> String {
        format!(
            "{LAYOUT}:{}:{}:{}:{}",
            self.created.as_millis(),
            self.last_seen.as_millis(),
            self.expires.as_millis(),
            self.revision
        )
    }

    /// Reads an `_m` value, refusing unknown layouts and damaged parts.
    pub(crate) fn decode(value: &[u8]) -> Result<Self, StoreError> {
        let mut parts = value.split(|&b| b == b':');
        let layout = parts.next().unwrap_or_default();
        if layout != LAYOUT.as_bytes() {
            return Err(unsupported(layout));
        }
        let mut next = |what: &str| -> Result<u64, StoreError> {
            let part = parts.next().ok_or_else(|| damaged(value))?;
            parse_digits(part, 10).ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "{what} {:?} is not a number",
                    String::from_utf8_lossy(part)
                ))
            })
        };
        let meta = Self {
            created: Timestamp::from_millis(next("created")?),
            last_seen: Timestamp::from_millis(next("last seen")?),
            expires: Timestamp::from_millis(next("expiry")?),
            revision: next("revision")?,
        };
        if parts.next().is_some() {
            return Err(damaged(value));
        }
        Ok(meta)
    }
}

fn unsupported(layout: &[u8]) -> StoreError {
    StoreError::Corrupt(format!(
        "record format version {:?} is not supported (this build reads {LAYOUT})",
        String::from_utf8_lossy(layout)
    ))
}

fn damaged(value: &[u8]) -> StoreError {
    StoreError::Corrupt(format!(
        "record metadata {:?} is damaged",
        String::from_utf8_lossy(value)
    ))
}

/// An unsigned number in `radix`: digits only (as the scripts' patterns and
/// the listing cursor read it), no sign, no overflow.
pub(crate) fn parse_digits(digits: &[u8], radix: u32) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &b| {
        let digit = char::from(b).to_digit(radix)?;
        n.checked_mul(u64::from(radix))?
            .checked_add(u64::from(digit))
    })
}

/// The `_b` value of `binding`: its JSON text, which the size limit counts.
pub(crate) fn encode_binding(binding: &Binding) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(binding)
        .map_err(|e| StoreError::Corrupt(format!("binding does not encode: {e}")))
}

/// A new record ready to write, its binding encoded once for both the size
/// check and the command.
pub(crate) struct NewRecord<'a> {
    record: &'a SessionRecord,
    /// The `_b` value, for a bound session.
    binding: Option<Vec<u8>>,
}

impl<'a> NewRecord<'a> {
    /// Encodes `record`'s binding.
    pub(crate) fn new(record: &'a SessionRecord) -> Result<Self, StoreError> {
        let binding = record.binding.as_deref().map(encode_binding).transpose()?;
        Ok(Self { record, binding })
    }

    /// The bytes the size limit counts, as the save script measures a
    /// stored record: data and flash names (without their namespace) and
    /// values, plus the binding's JSON text (`_b`).
    pub(crate) fn size(&self) -> usize {
        let binding = self.binding.as_ref().map_or(0, Vec::len);
        (self.record.fields.byte_size() + self.record.flash.byte_size()).saturating_add(binding)
    }

    /// How many arguments [`write`](Self::write) writes, and about how many
    /// bytes.
    pub(crate) fn args(&self) -> (usize, usize) {
        let pairs = 3 + self.record.fields.len() + self.record.flash.len();
        (2 * pairs, 128 + self.size())
    }

    /// Writes the field/value pairs of the record, metadata first.
    pub(crate) fn write<W: ?Sized + RedisWrite>(&self, out: &mut W) {
        let record = self.record;
        out.write_arg(META.as_bytes());
        out.write_arg(Meta::of(record).encode().as_bytes());
        if let (Some(binding), Some(json)) = (record.binding.as_deref(), &self.binding) {
            out.write_arg(BINDING.as_bytes());
            out.write_arg(json);
            out.write_arg(USER.as_bytes());
            out.write_arg(binding.user_id.as_bytes());
        }
        write_pairs(FIELD, &record.fields, out);
        write_pairs(FLASH, &record.flash, out);
    }
}

fn write_pairs<W: ?Sized + RedisWrite>(namespace: &str, map: &FieldMap, out: &mut W) {
    for (name, value) in map.iter() {
        Concat([namespace.as_bytes(), name.as_bytes()]).write_redis_args(out);
        out.write_arg(value.as_bytes());
    }
}

/// How many field/value pairs [`write_patch`] writes, how many arguments
/// follow its removal count (names removed, then taken flash pairs), and
/// about how many bytes in all.
pub(crate) fn patch_size(patch: &SessionPatch) -> (usize, usize, usize) {
    let set = patch.set_fields.len() + patch.set_flash.len();
    let removed = patch.removed_fields.len() + 2 * patch.taken_flash.len();
    let bytes = patch.set_fields.byte_size()
        + patch.set_flash.byte_size()
        + patch.taken_flash.byte_size()
        + patch.removed_fields.iter().map(|n| n.len()).sum::<usize>();
    (set, removed, bytes + 4 * (set + removed + 1))
}

/// Writes the hash fields a patch sets (pairs, data then flash), then how
/// many data fields it removes and their names, then the flash it took, as
/// pairs: each is removed only while it holds the value read.
pub(crate) fn write_patch<W: ?Sized + RedisWrite>(patch: &SessionPatch, out: &mut W) {
    write_pairs(FIELD, &patch.set_fields, out);
    write_pairs(FLASH, &patch.set_flash, out);
    patch.removed_fields.len().write_redis_args(out);
    for name in &patch.removed_fields {
        Concat([FIELD.as_bytes(), name.as_bytes()]).write_redis_args(out);
    }
    write_pairs(FLASH, &patch.taken_flash, out);
}

fn text(bytes: Vec<u8>, what: &str) -> Result<String, StoreError> {
    String::from_utf8(bytes).map_err(|_| StoreError::Corrupt(format!("{what} is not UTF-8")))
}

/// A data or flash name: the field name without its two-byte namespace.
fn name_in(mut field: Vec<u8>) -> Result<Box<str>, StoreError> {
    field.drain(..FIELD.len());
    Ok(text(field, "a field name")?.into_boxed_str())
}

/// A data or flash value, which must be JSON text, as every store holds
/// them: the file and cookie stores keep a record as one JSON document, so
/// there a value that is not JSON makes the whole record corrupt. Checked
/// here, as the bytes are taken anyway, so that such a value written behind
/// the store's back is no session to the service (by its invalid-data
/// policy) instead of a login that stays in use until some typed read
/// fails. The check borrows the text: no allocation.
fn json_value(value: Vec<u8>, kind: &str, name: &str) -> Result<Box<str>, StoreError> {
    let text = String::from_utf8(value)
        .map_err(|_| StoreError::Corrupt(format!("the value of {kind} {name:?} is not UTF-8")))?;
    serde_json::from_str::<&serde_json::value::RawValue>(&text).map_err(|e| {
        StoreError::Corrupt(format!("the value of {kind} {name:?} is not JSON: {e}"))
    })?;
    Ok(text.into_boxed_str())
}

fn binding(value: Option<&[u8]>) -> Result<Option<Box<Binding>>, StoreError> {
    value
        .map(|json| {
            serde_json::from_slice::<Binding>(json)
                .map(Box::new)
                .map_err(|e| {
                    StoreError::Corrupt(format!(
                        "binding does not decode: {}",
                        session_core::data::json_error_message(&e)
                    ))
                })
        })
        .transpose()
}

/// The metadata of a record that has no `_m` field: an earlier layout (named
/// by its `_v`), or not a session at all.
fn missing_meta(legacy_version: Option<&[u8]>) -> StoreError {
    match legacy_version {
        Some(version) => unsupported(version),
        None => StoreError::Corrupt("record has no format version".into()),
    }
}

/// What an `HGETALL` of a session hash returned.
#[derive(Debug)]
pub(crate) enum Hash {
    /// No such key.
    Missing,
    /// The record; the caller checks its expiry.
    Found(SessionRecord),
}

/// Decodes an `HGETALL` reply (a flat array, or a map in RESP3) into a
/// record. `Ok(None)` means the reply is not of that shape at all (the caller
/// reports it as unexpected); a hash that does not decode is
/// [`StoreError::Corrupt`].
pub(crate) fn decode_hash(id: SessionId, reply: Value) -> Result<Option<Hash>, StoreError> {
    let mut decoder = HashDecoder::default();
    match reply {
        Value::Array(items) => {
            if items.len() % 2 != 0 {
                return Ok(None);
            }
            // Room for every pair but `_m` (flash is rare, and grows).
            decoder.fields = FieldMap::with_capacity((items.len() / 2).saturating_sub(1));
            let mut items = items.into_iter();
            while let (Some(name), Some(value)) = (items.next(), items.next()) {
                if !decoder.pair(name, value)? {
                    return Ok(None);
                }
            }
        }
        Value::Map(entries) => {
            decoder.fields = FieldMap::with_capacity(entries.len().saturating_sub(1));
            for (name, value) in entries {
                if !decoder.pair(name, value)? {
                    return Ok(None);
                }
            }
        }
        _ => return Ok(None),
    }
    decoder.finish(id).map(Some)
}

#[derive(Default)]
struct HashDecoder {
    seen: bool,
    meta: Option<Vec<u8>>,
    binding: Option<Vec<u8>>,
    legacy_version: Option<Vec<u8>>,
    fields: FieldMap,
    flash: FieldMap,
}

impl HashDecoder {
    /// Takes one field/value pair; `Ok(false)` when they are not strings.
    fn pair(&mut self, name: Value, value: Value) -> Result<bool, StoreError> {
        let (Value::BulkString(name), Value::BulkString(value)) = (name, value) else {
            return Ok(false);
        };
        self.seen = true;
        if name.starts_with(FIELD.as_bytes()) {
            let name = name_in(name)?;
            let value = json_value(value, "data field", &name)?;
            self.fields.insert(name, value);
        } else if name.starts_with(FLASH.as_bytes()) {
            let name = name_in(name)?;
            let value = json_value(value, "flash value", &name)?;
            self.flash.insert(name, value);
        } else if name == META.as_bytes() {
            self.meta = Some(value);
        } else if name == BINDING.as_bytes() {
            self.binding = Some(value);
        } else if name == LEGACY_VERSION.as_bytes() {
            self.legacy_version = Some(value);
        }
        // `_u` repeats the binding's user; unknown fields are ignored.
        Ok(true)
    }

    fn finish(self, id: SessionId) -> Result<Hash, StoreError> {
        if !self.seen {
            return Ok(Hash::Missing);
        }
        let meta = match &self.meta {
            Some(meta) => Meta::decode(meta)?,
            None => return Err(missing_meta(self.legacy_version.as_deref())),
        };
        Ok(Hash::Found(SessionRecord {
            id,
            created_at: meta.created,
            last_seen: meta.last_seen,
            expires_at: meta.expires,
            binding: binding(self.binding.as_deref())?,
            fields: self.fields,
            flash: self.flash,
            revision: meta.revision,
        }))
    }
}

/// What a listing read of one session found.
#[derive(Debug)]
pub(crate) enum Listed {
    /// No such hash.
    Missing,
    /// The session, live or not (the caller compares expiry and user).
    Found {
        info: SessionInfo,
        user: Option<String>,
    },
}

/// A listing entry from `HMGET` of [`INFO_FIELDS`].
pub(crate) fn decode_info(
    id: SessionId,
    values: Vec<Option<Vec<u8>>>,
) -> Result<Listed, StoreError> {
    if values.iter().all(Option::is_none) {
        return Ok(Listed::Missing);
    }
    let mut values = values.into_iter();
    let mut next = || values.next().flatten();
    let (meta, binding_json, user) = (next(), next(), next());
    let meta = match meta {
        Some(meta) => Meta::decode(&meta)?,
        None => return Err(missing_meta(None)),
    };
    let user = user.map(|u| text(u, "the user id")).transpose()?;
    let mut record = SessionRecord::new(id, meta.created, meta.expires);
    record.last_seen = meta.last_seen;
    record.binding = binding(binding_json.as_deref())?;
    Ok(Listed::Found {
        info: record.info(),
        user,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode_record(record: &SessionRecord) -> Result<Vec<String>, StoreError> {
        let mut out: Vec<Vec<u8>> = Vec::new();
        NewRecord::new(record)?.write(&mut out);
        assert_eq!(
            out.len(),
            2 * (3 + record.fields.len() + record.flash.len())
                - 4 * usize::from(record.binding.is_none())
        );
        Ok(out
            .into_iter()
            .map(|a| String::from_utf8(a).unwrap())
            .collect())
    }

    fn reply(flat: Vec<String>) -> Value {
        Value::Array(
            flat.into_iter()
                .map(|s| Value::BulkString(s.into_bytes()))
                .collect(),
        )
    }

    fn decode(id: SessionId, flat: Vec<String>) -> Result<SessionRecord, StoreError> {
        match decode_hash(id, reply(flat))? {
            Some(Hash::Found(record)) => Ok(record),
            other => panic!("decoded {other:?}"),
        }
    }

    fn sample() -> SessionRecord {
        let now = Timestamp::from_millis(1_700_000_000_000);
        let mut r = SessionRecord::new(
            SessionId::generate(),
            now,
            now.plus(std::time::Duration::from_secs(60)),
        );
        r.last_seen = now.plus(std::time::Duration::from_secs(5));
        r.fields = [("count", "3"), ("f:odd", "\"x\"")].into_iter().collect();
        r.flash = [("count", "\"flash\"")].into_iter().collect();
        r.revision = 4;
        r.binding = Some(Box::new(
            Binding::user("ada")
                .with_label("laptop")
                .with_meta(serde_json::json!({"a": [1, {"b": null}]}))
                .with_permissions(["admin"]),
        ));
        r
    }

    #[test]
    fn records_round_trip() {
        let r = sample();
        let flat = encode_record(&r).unwrap();
        assert_eq!(flat[0], META);
        assert_eq!(flat[1], "2:1700000000000:1700000005000:1700000060000:4");
        assert_eq!(decode(r.id, flat).unwrap(), r);
        let mut anonymous = sample();
        anonymous.binding = None;
        let flat = encode_record(&anonymous).unwrap();
        assert!(!flat.iter().any(|f| f == USER || f == BINDING));
        assert_eq!(decode(anonymous.id, flat).unwrap(), anonymous);
        // RESP3 maps decode the same.
        let Value::Array(items) = reply(encode_record(&r).unwrap()) else {
            unreachable!()
        };
        let mut items = items.into_iter();
        let mut map = Vec::new();
        while let (Some(k), Some(v)) = (items.next(), items.next()) {
            map.push((k, v));
        }
        match decode_hash(r.id, Value::Map(map)).unwrap() {
            Some(Hash::Found(back)) => assert_eq!(back, r),
            other => panic!("decoded {other:?}"),
        }
    }

    #[test]
    fn metadata_packs_exactly_at_the_extremes() {
        for meta in [
            Meta {
                created: Timestamp::from_millis(0),
                last_seen: Timestamp::from_millis(0),
                expires: Timestamp::from_millis(0),
                revision: 0,
            },
            Meta {
                created: Timestamp::from_millis(u64::MAX),
                last_seen: Timestamp::from_millis(9_007_199_254_740_993),
                expires: Timestamp::from_millis(u64::MAX - 1),
                revision: u64::MAX,
            },
        ] {
            assert_eq!(Meta::decode(meta.encode().as_bytes()).unwrap(), meta);
        }
    }

    #[test]
    fn unknown_layouts_and_damaged_metadata_are_corrupt() {
        let r = sample();
        let with_meta = |value: &str| {
            let mut flat = encode_record(&r).unwrap();
            flat[1] = value.into();
            decode(r.id, flat)
        };
        let corrupt = |result: Result<SessionRecord, StoreError>, needle: &str| match result {
            Err(StoreError::Corrupt(m)) => assert!(m.contains(needle), "{m}"),
            other => panic!("decoded {other:?}"),
        };
        corrupt(with_meta("3:1:2:3:4"), "version \"3\"");
        corrupt(with_meta("1"), "version \"1\"");
        corrupt(with_meta(""), "version \"\"");
        corrupt(with_meta("2:1:2:soon:4"), "expiry \"soon\"");
        corrupt(with_meta("2:1:2:3:-1"), "revision \"-1\"");
        corrupt(with_meta("2:1:+2:3:4"), "last seen");
        corrupt(with_meta("2:1:2:3"), "damaged");
        corrupt(with_meta("2:1:2:3:4:5"), "damaged");
        corrupt(with_meta("2:1:2:18446744073709551616:4"), "expiry");
        let mut flat = encode_record(&r).unwrap();
        let i = flat.iter().position(|f| f == BINDING).unwrap();
        flat[i + 1] = "{".into();
        corrupt(decode(r.id, flat.clone()), "binding");
        // The value that does not fit (a user id here) stays out of the
        // message, which goes into a warning.
        flat[i + 1] = r#"{"user_id": 987654321, "permissions": "ada@example.com"}"#.into();
        match decode(r.id, flat) {
            Err(StoreError::Corrupt(m)) => {
                assert!(m.contains("binding") && m.contains("expected"), "{m}");
                assert!(!m.contains("987654321"), "{m}");
            }
            other => panic!("decoded {other:?}"),
        }
        // Layout 1 (one field per item, version in `_v`) is named as such.
        let legacy = vec!["_v".into(), "1".into(), "_e".into(), "1".into()];
        corrupt(decode(r.id, legacy), "version \"1\"");
        corrupt(
            decode(r.id, vec!["f:x".into(), "1".into()]),
            "no format version",
        );
        let bad_utf8 = Value::Array(vec![
            Value::BulkString(b"f:x".to_vec()),
            Value::BulkString(vec![0xff]),
        ]);
        assert!(matches!(
            decode_hash(r.id, bad_utf8),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn replies_of_another_shape_are_not_records() {
        let id = SessionId::generate();
        assert!(matches!(
            decode_hash(id, Value::Array(vec![])).unwrap(),
            Some(Hash::Missing)
        ));
        assert!(matches!(
            decode_hash(id, Value::Map(vec![])).unwrap(),
            Some(Hash::Missing)
        ));
        for odd in [
            Value::Nil,
            Value::Int(1),
            Value::Array(vec![Value::BulkString(b"_m".to_vec())]),
            Value::Array(vec![Value::Int(1), Value::Int(2)]),
        ] {
            assert!(decode_hash(id, odd).unwrap().is_none());
        }
    }

    #[test]
    fn listing_entries_decode_from_metadata() {
        let r = sample();
        let flat = encode_record(&r).unwrap();
        let get = |name: &str| {
            flat.iter()
                .position(|f| f == name)
                .map(|i| flat[i + 1].clone().into_bytes())
        };
        let values = INFO_FIELDS.iter().map(|f| get(f)).collect();
        match decode_info(r.id, values).unwrap() {
            Listed::Found { info, user } => {
                assert_eq!(info, r.info());
                assert_eq!(user.as_deref(), Some("ada"));
            }
            Listed::Missing => panic!("found nothing"),
        }
        assert!(matches!(
            decode_info(r.id, vec![None; 3]).unwrap(),
            Listed::Missing
        ));
        assert!(matches!(
            decode_info(r.id, vec![None, None, Some(b"ada".to_vec())]),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            decode_info(r.id, vec![Some(b"9:1".to_vec()), None, None]),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn patches_namespace_data_and_flash() {
        let patch = SessionPatch {
            set_fields: [("a", "1")].into_iter().collect(),
            set_flash: [("a", "2")].into_iter().collect(),
            removed_fields: vec!["b".into()],
            taken_flash: [("c", "3")].into_iter().collect(),
            ..SessionPatch::default()
        };
        let mut out: Vec<Vec<u8>> = Vec::new();
        write_patch(&patch, &mut out);
        let out: Vec<&str> = out
            .iter()
            .map(|a| std::str::from_utf8(a).unwrap())
            .collect();
        assert_eq!(out, ["f:a", "1", "l:a", "2", "1", "f:b", "l:c", "3"]);
        assert_eq!(patch_size(&patch).0, 2);
        assert_eq!(patch_size(&patch).1, 3);
        // Into a command, each piece-wise name is one argument.
        let mut cmd = redis::cmd("X");
        write_patch(&patch, &mut cmd);
        assert_eq!(cmd.args_iter().count(), 9);
    }
}

/// What Redis may hand back, under generated cases: any reply, any bytes in
/// any field, and valid hashes with one part changed, cut or doubled, decode
/// to the record they hold or to [`StoreError::Corrupt`], never a panic.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    /// Any reply of a few levels, of every shape the client can return.
    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Nil),
            Just(Value::Okay),
            any::<i64>().prop_map(Value::Int),
            any::<f64>().prop_map(Value::Double),
            any::<bool>().prop_map(Value::Boolean),
            ".{0,8}".prop_map(Value::SimpleString),
            name_bytes().prop_map(Value::BulkString),
            prop::collection::vec(any::<u8>(), 0..24).prop_map(Value::BulkString),
        ];
        leaf.prop_recursive(3, 32, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Set),
                prop::collection::vec((inner.clone(), inner), 0..4).prop_map(Value::Map),
            ]
        })
    }

    /// Field names a session hash holds, and a few it does not.
    fn name_bytes() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::sample::select(vec!["_m", "_b", "_u", "_w", "_v", "f:", "l:", "f", "x"])
                .prop_map(|n| n.as_bytes().to_vec()),
            (
                prop::sample::select(vec!["f:", "l:"]),
                prop::collection::vec(any::<u8>(), 0..6)
            )
                .prop_map(|(ns, rest)| [ns.as_bytes(), &rest].concat()),
            meta().prop_map(|m| m.encode().into_bytes()),
        ]
    }

    prop_compose! {
        fn meta()(
            created in any::<u64>(),
            last_seen in any::<u64>(),
            expires in any::<u64>(),
            revision in any::<u64>(),
        ) -> Meta {
            Meta {
                created: Timestamp::from_millis(created),
                last_seen: Timestamp::from_millis(last_seen),
                expires: Timestamp::from_millis(expires),
                revision,
            }
        }
    }

    fn field_map() -> impl Strategy<Value = FieldMap> {
        let json = prop_oneof![
            any::<i64>().prop_map(|n| json!(n)),
            ".{0,8}".prop_map(|s| json!(s)),
            (".{0,4}", any::<bool>()).prop_map(|(k, b)| json!({ k: [b, null] })),
        ];
        prop::collection::vec((".{0,8}", json), 0..4).prop_map(|pairs| {
            pairs
                .into_iter()
                .map(|(name, value)| (name, value.to_string()))
                .collect()
        })
    }

    prop_compose! {
        fn record()(
            meta in meta(),
            fields in field_map(),
            flash in field_map(),
            user in prop::option::of((".{1,8}", prop::option::of(".{0,8}"))),
        ) -> SessionRecord {
            let mut r = SessionRecord::new(SessionId::generate(), meta.created, meta.expires);
            r.last_seen = meta.last_seen;
            r.revision = meta.revision;
            (r.fields, r.flash) = (fields, flash);
            r.binding = user.map(|(user, label)| {
                let mut b = Binding::user(user).with_permissions(["admin"]);
                b.label = label;
                Box::new(b)
            });
            r
        }
    }

    /// The `HSET` arguments of `record`: field, value, field, value...
    fn pairs(record: &SessionRecord) -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = Vec::new();
        NewRecord::new(record).unwrap().write(&mut out);
        out
    }

    fn as_reply(pairs: Vec<Vec<u8>>, resp3: bool) -> Value {
        let mut items = pairs.into_iter().map(Value::BulkString);
        if !resp3 {
            return Value::Array(items.collect());
        }
        let mut map = Vec::new();
        while let (Some(k), Some(v)) = (items.next(), items.next()) {
            map.push((k, v));
        }
        Value::Map(map)
    }

    /// Whether `value` is exactly an `_m` of this layout: five parts, the
    /// layout then unsigned decimals (leading zeros allowed) that fit in a
    /// `u64`; with their values.
    fn valid_meta(value: &[u8]) -> Option<[u64; 4]> {
        let parts: Vec<&[u8]> = value.split(|&b| b == b':').collect();
        let [layout, numbers @ ..] = parts.as_slice() else {
            return None;
        };
        if *layout != LAYOUT.as_bytes() || numbers.len() != 4 {
            return None;
        }
        let mut out = [0; 4];
        for (slot, part) in out.iter_mut().zip(numbers) {
            if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
                return None;
            }
            *slot = std::str::from_utf8(part).ok()?.parse().ok()?;
        }
        Some(out)
    }

    /// The same bytes changed: one byte replaced, cut short, a piece
    /// repeated, or a long run of digits added.
    fn perturbed(bytes: &[u8], how: u8, at: usize, with: u8) -> Vec<u8> {
        let at = if bytes.is_empty() {
            0
        } else {
            at % bytes.len()
        };
        let mut out = bytes.to_vec();
        match how % 4 {
            0 if !out.is_empty() => out[at] = with,
            1 => out.truncate(at),
            2 => out.splice(at..at, bytes[at..].to_vec()).for_each(drop),
            _ => out
                .splice(at..at, std::iter::repeat_n(b'9', 40))
                .for_each(drop),
        }
        out
    }

    /// A byte to put in: any, or one a parser may stumble on.
    fn byte() -> impl Strategy<Value = u8> {
        prop_oneof![
            any::<u8>(),
            prop::sample::select(b"+-:0 {}\"\\\xff".to_vec())
        ]
    }

    fn is_corrupt(error: &StoreError) -> bool {
        matches!(error, StoreError::Corrupt(_))
    }

    fn found(hash: Hash) -> Option<SessionRecord> {
        match hash {
            Hash::Found(r) => Some(r),
            Hash::Missing => None,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn metadata_round_trips(meta in meta()) {
            prop_assert_eq!(Meta::decode(meta.encode().as_bytes()).unwrap(), meta);
        }

        #[test]
        fn any_bytes_as_metadata_are_read_exactly_or_corrupt(
            bytes in prop_oneof![
                prop::collection::vec(any::<u8>(), 0..64),
                prop::collection::vec(
                    prop::sample::select(b"0123456789:2+- ".to_vec()), 0..64),
                (meta(), any::<u8>(), any::<usize>(), byte())
                    .prop_map(|(m, how, at, with)| perturbed(m.encode().as_bytes(), how, at, with)),
            ],
        ) {
            match (Meta::decode(&bytes), valid_meta(&bytes)) {
                (Ok(meta), Some([created, last_seen, expires, revision])) => {
                    prop_assert_eq!(meta.created.as_millis(), created);
                    prop_assert_eq!(meta.last_seen.as_millis(), last_seen);
                    prop_assert_eq!(meta.expires.as_millis(), expires);
                    prop_assert_eq!(meta.revision, revision);
                }
                (Err(error), None) => prop_assert!(is_corrupt(&error), "{error:?}"),
                (result, expected) => {
                    prop_assert!(false, "{:?}: decoded {result:?}, expected {expected:?}",
                        String::from_utf8_lossy(&bytes));
                }
            }
        }

        #[test]
        fn any_reply_as_a_hash_is_a_record_missing_unexpected_or_corrupt(reply in value()) {
            match decode_hash(SessionId::generate(), reply) {
                Ok(_) => {}
                Err(error) => prop_assert!(is_corrupt(&error), "{error:?}"),
            }
        }

        #[test]
        fn hashes_round_trip(r in record(), resp3 in any::<bool>()) {
            match decode_hash(r.id, as_reply(pairs(&r), resp3)) {
                Ok(Some(Hash::Found(back))) => prop_assert_eq!(back, r),
                other => prop_assert!(false, "decoded {other:?}"),
            }
        }

        #[test]
        fn a_hash_with_one_value_changed_is_what_it_holds_or_corrupt(
            r in record(),
            resp3 in any::<bool>(),
            which in any::<usize>(),
            how in any::<u8>(),
            at in any::<usize>(),
            with in byte(),
        ) {
            let mut pairs = pairs(&r);
            let pair = which % (pairs.len() / 2);
            let name = pairs[2 * pair].clone();
            let value = perturbed(&pairs[2 * pair + 1], how, at, with);
            pairs[2 * pair + 1] = value.clone();
            let result = decode_hash(r.id, as_reply(pairs, resp3));
            match name.as_slice() {
                b"_m" => match valid_meta(&value) {
                    Some([created, last_seen, expires, revision]) => {
                        let Ok(Some(Hash::Found(back))) = result else {
                            return Err(TestCaseError::fail(format!("decoded {result:?}")));
                        };
                        prop_assert_eq!(back.created_at.as_millis(), created);
                        prop_assert_eq!(back.last_seen.as_millis(), last_seen);
                        prop_assert_eq!(back.expires_at.as_millis(), expires);
                        prop_assert_eq!(back.revision, revision);
                        prop_assert_eq!((back.fields, back.flash), (r.fields, r.flash));
                    }
                    None => prop_assert!(
                        matches!(&result, Err(e) if is_corrupt(e)), "decoded {result:?}"),
                },
                b"_b" => match (result, serde_json::from_slice::<Binding>(&value)) {
                    (Ok(Some(Hash::Found(back))), Ok(binding)) => {
                        prop_assert_eq!(back.binding.as_deref(), Some(&binding));
                        prop_assert_eq!(back.fields, r.fields);
                    }
                    (Err(e), Err(_)) => prop_assert!(is_corrupt(&e), "{e:?}"),
                    (result, binding) => prop_assert!(false, "decoded {result:?} from {binding:?}"),
                },
                // `_u` only repeats the binding's user for the scripts.
                b"_u" => prop_assert_eq!(result.unwrap().map(found), Some(Some(r))),
                _ => {
                    let (namespace, field) = name.split_at(2);
                    let field = std::str::from_utf8(field).unwrap();
                    // A value loads when it is JSON text, as in the other stores.
                    let json = String::from_utf8(value).map_err(drop).and_then(|text| {
                        serde_json::from_str::<&serde_json::value::RawValue>(&text)
                            .map_err(drop)?;
                        Ok(text)
                    });
                    match (result, json) {
                        (Ok(Some(Hash::Found(back))), Ok(text)) => {
                            let map = if namespace == b"f:" { &back.fields } else { &back.flash };
                            prop_assert_eq!(map.get(field), Some(text.as_str()));
                            prop_assert_eq!(Meta::of(&back), Meta::of(&r));
                        }
                        (Err(e), Err(_)) => prop_assert!(is_corrupt(&e), "{e:?}"),
                        (result, text) => prop_assert!(false, "decoded {result:?} from {text:?}"),
                    }
                }
            }
        }

        #[test]
        fn a_hash_with_pairs_dropped_or_doubled_is_a_record_or_corrupt(
            r in record(),
            resp3 in any::<bool>(),
            drop_pair in prop::option::of(any::<usize>()),
            double_pair in prop::option::of(any::<usize>()),
        ) {
            let mut pairs: Vec<[Vec<u8>; 2]> = pairs(&r)
                .chunks(2)
                .map(|p| [p[0].clone(), p[1].clone()])
                .collect();
            if let Some(i) = double_pair {
                let pair = pairs[i % pairs.len()].clone();
                pairs.push(pair);
            }
            let mut dropped = None;
            if let Some(i) = drop_pair {
                dropped = Some(pairs.remove(i % pairs.len()));
            }
            let left_meta = pairs.iter().any(|[name, _]| name.as_slice() == META.as_bytes());
            // Only a name that no pair left holds goes missing.
            let gone = dropped
                .filter(|[name, _]| pairs.iter().all(|[left, _]| left != name))
                .map(|[name, _]| String::from_utf8(name).unwrap());
            let result = decode_hash(r.id, as_reply(pairs.concat(), resp3));
            match result {
                Ok(Some(Hash::Found(back))) => {
                    prop_assert!(left_meta);
                    let mut expected = r.clone();
                    if let Some(name) = gone {
                        if let Some(field) = name.strip_prefix(FIELD) {
                            expected.fields.remove(field);
                        } else if let Some(field) = name.strip_prefix(FLASH) {
                            expected.flash.remove(field);
                        } else if name == BINDING {
                            expected.binding = None;
                        }
                    }
                    prop_assert_eq!(back, expected);
                }
                Ok(Some(Hash::Missing)) => prop_assert!(!left_meta),
                Err(error) => {
                    prop_assert!(!left_meta);
                    prop_assert!(is_corrupt(&error), "{error:?}");
                }
                Ok(None) => prop_assert!(false, "a hash of strings read as another shape"),
            }
        }

        #[test]
        fn any_listing_values_are_an_entry_missing_or_corrupt(
            values in prop::collection::vec(
                prop::option::of(prop_oneof![
                    prop::collection::vec(any::<u8>(), 0..32),
                    name_bytes(),
                ]),
                0..5,
            ),
        ) {
            let all_none = values.iter().all(Option::is_none);
            match decode_info(SessionId::generate(), values) {
                Ok(Listed::Missing) => prop_assert!(all_none),
                Ok(Listed::Found { .. }) => prop_assert!(!all_none),
                Err(error) => prop_assert!(is_corrupt(&error), "{error:?}"),
            }
        }

        #[test]
        fn listing_entries_round_trip(r in record()) {
            let pairs = pairs(&r);
            let get = |field: &str| {
                pairs
                    .chunks(2)
                    .find(|p| p[0] == field.as_bytes())
                    .map(|p| p[1].clone())
            };
            let values = INFO_FIELDS.iter().map(|f| get(f)).collect();
            match decode_info(r.id, values) {
                Ok(Listed::Found { info, user }) => {
                    prop_assert_eq!(info, r.info());
                    prop_assert_eq!(user.as_deref(), r.user_id());
                }
                other => prop_assert!(false, "decoded {other:?}"),
            }
        }
    }
}
