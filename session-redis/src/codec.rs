//! The layout of a session hash, and its encoding and decoding.
//!
//! | field | holds |
//! | --- | --- |
//! | `_v` | format version ([`FORMAT_VERSION`]) |
//! | `_c` | created, ms since the epoch |
//! | `_s` | last seen, ms |
//! | `_e` | expires, ms (the key itself expires then too, by `PEXPIREAT`) |
//! | `_r` | revision |
//! | `_b` | binding as JSON (bound sessions only) |
//! | `_u` | the bound user id, for the scripts' ownership checks |
//! | `f:<name>` | data field `<name>`, JSON text |
//! | `l:<name>` | flash value `<name>`, JSON text |

use session_core::record::FORMAT_VERSION;
use session_core::{
    Binding, FieldMap, SessionId, SessionInfo, SessionPatch, SessionRecord, StoreError, Timestamp,
};

pub(crate) const VERSION: &str = "_v";
pub(crate) const CREATED: &str = "_c";
pub(crate) const LAST_SEEN: &str = "_s";
pub(crate) const EXPIRES: &str = "_e";
pub(crate) const REVISION: &str = "_r";
pub(crate) const BINDING: &str = "_b";
pub(crate) const USER: &str = "_u";
pub(crate) const FIELD: &str = "f:";
pub(crate) const FLASH: &str = "l:";

/// The metadata fields a listing reads, in the order [`decode_info`] expects.
pub(crate) const INFO_FIELDS: [&str; 6] = [VERSION, CREATED, LAST_SEEN, EXPIRES, BINDING, USER];

/// The latest instant Redis is asked to expire a key at: a key's own TTL is
/// clamped to it (year 9999), the stored `_e` keeps the exact value.
const MAX_EXPIRE_AT_MS: u64 = 253_402_300_799_999;

/// The `PEXPIREAT` argument for an expiry.
pub(crate) fn expire_at_arg(expires_at: Timestamp) -> String {
    expires_at.as_millis().min(MAX_EXPIRE_AT_MS).to_string()
}

/// The field/value pairs of a new record, metadata first.
pub(crate) fn encode_record(record: &SessionRecord) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::with_capacity(2 * (7 + record.fields.len() + record.flash.len()));
    let mut pair = |k: String, v: String| {
        out.push(k);
        out.push(v);
    };
    pair(VERSION.into(), FORMAT_VERSION.to_string());
    pair(CREATED.into(), record.created_at.as_millis().to_string());
    pair(LAST_SEEN.into(), record.last_seen.as_millis().to_string());
    pair(EXPIRES.into(), record.expires_at.as_millis().to_string());
    pair(REVISION.into(), record.revision.to_string());
    if let Some(binding) = record.binding.as_deref() {
        let json = serde_json::to_string(binding)
            .map_err(|e| StoreError::Corrupt(format!("binding does not encode: {e}")))?;
        pair(BINDING.into(), json);
        pair(USER.into(), binding.user_id.clone());
    }
    for (name, value) in record.fields.iter() {
        pair(format!("{FIELD}{name}"), value.into());
    }
    for (name, value) in record.flash.iter() {
        pair(format!("{FLASH}{name}"), value.into());
    }
    Ok(out)
}

/// The hash fields a patch sets (pairs) and removes, data and flash together.
pub(crate) fn encode_patch(patch: &SessionPatch) -> (Vec<String>, Vec<String>) {
    let mut set = Vec::with_capacity(2 * (patch.set_fields.len() + patch.set_flash.len()));
    for (ns, map) in [(FIELD, &patch.set_fields), (FLASH, &patch.set_flash)] {
        for (name, value) in map.iter() {
            set.push(format!("{ns}{name}"));
            set.push(value.to_owned());
        }
    }
    let removed = patch
        .removed_fields
        .iter()
        .map(|n| format!("{FIELD}{n}"))
        .chain(patch.removed_flash.iter().map(|n| format!("{FLASH}{n}")))
        .collect();
    (set, removed)
}

fn text(bytes: Vec<u8>, what: &str) -> Result<String, StoreError> {
    String::from_utf8(bytes).map_err(|_| StoreError::Corrupt(format!("{what} is not UTF-8")))
}

fn millis(value: Option<&str>, what: &str) -> Result<Timestamp, StoreError> {
    let value = value.ok_or_else(|| StoreError::Corrupt(format!("{what} is missing")))?;
    value
        .parse()
        .map(Timestamp::from_millis)
        .map_err(|_| StoreError::Corrupt(format!("{what} {value:?} is not a number")))
}

fn check_version(value: Option<&str>) -> Result<(), StoreError> {
    match value {
        Some(v) if v == FORMAT_VERSION.to_string() => Ok(()),
        Some(v) => Err(StoreError::Corrupt(format!(
            "record format version {v:?} is not supported (this build reads {FORMAT_VERSION})"
        ))),
        None => Err(StoreError::Corrupt("record has no format version".into())),
    }
}

fn binding(value: Option<&str>) -> Result<Option<Box<Binding>>, StoreError> {
    value
        .map(|json| {
            serde_json::from_str::<Binding>(json)
                .map(Box::new)
                .map_err(|e| StoreError::Corrupt(format!("binding does not decode: {e}")))
        })
        .transpose()
}

/// A record from the field/value pairs of `HGETALL` (not empty).
pub(crate) fn decode_record(
    id: SessionId,
    pairs: Vec<(Vec<u8>, Vec<u8>)>,
) -> Result<SessionRecord, StoreError> {
    let mut version = None;
    let mut created = None;
    let mut last_seen = None;
    let mut expires = None;
    let mut revision = None;
    let mut binding_json = None;
    let mut fields = Vec::new();
    let mut flash = Vec::new();
    for (name, value) in pairs {
        let name = text(name, "a field name")?;
        let value = text(value, "a field value")?;
        if let Some(field) = name.strip_prefix(FIELD) {
            fields.push((field.to_owned(), value));
            continue;
        }
        if let Some(field) = name.strip_prefix(FLASH) {
            flash.push((field.to_owned(), value));
            continue;
        }
        let slot = match name.as_str() {
            VERSION => &mut version,
            CREATED => &mut created,
            LAST_SEEN => &mut last_seen,
            EXPIRES => &mut expires,
            REVISION => &mut revision,
            BINDING => &mut binding_json,
            // `_u` repeats the binding's user; unknown fields are ignored.
            _ => continue,
        };
        *slot = Some(value);
    }
    check_version(version.as_deref())?;
    let revision = match revision.as_deref() {
        Some(r) => r
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("revision {r:?} is not a number")))?,
        None => return Err(StoreError::Corrupt("revision is missing".into())),
    };
    Ok(SessionRecord {
        id,
        created_at: millis(created.as_deref(), "created")?,
        last_seen: millis(last_seen.as_deref(), "last seen")?,
        expires_at: millis(expires.as_deref(), "expiry")?,
        binding: binding(binding_json.as_deref())?,
        fields: fields.into_iter().collect::<FieldMap>(),
        flash: flash.into_iter().collect::<FieldMap>(),
        revision,
    })
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
    let mut values = values
        .into_iter()
        .map(|v| v.map(|b| text(b, "a metadata field")).transpose())
        .collect::<Result<Vec<_>, _>>()?
        .into_iter();
    let mut next = || values.next().flatten();
    let (version, created, last_seen, expires, binding_json, user) =
        (next(), next(), next(), next(), next(), next());
    check_version(version.as_deref())?;
    let binding = binding(binding_json.as_deref())?;
    let mut record = SessionRecord::new(
        id,
        millis(created.as_deref(), "created")?,
        millis(expires.as_deref(), "expiry")?,
    );
    record.last_seen = millis(last_seen.as_deref(), "last seen")?;
    record.binding = binding;
    Ok(Listed::Found {
        info: record.info(),
        user,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(flat: Vec<String>) -> Vec<(Vec<u8>, Vec<u8>)> {
        flat.chunks(2)
            .map(|c| (c[0].clone().into_bytes(), c[1].clone().into_bytes()))
            .collect()
    }

    fn sample() -> SessionRecord {
        let now = Timestamp::from_millis(1_700_000_000_000);
        let mut r = SessionRecord::new(
            SessionId::generate(),
            now,
            now.plus(std::time::Duration::from_secs(60)),
        );
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
        let back = decode_record(r.id, pairs(encode_record(&r).unwrap())).unwrap();
        assert_eq!(back, r);
        let mut anonymous = sample();
        anonymous.binding = None;
        let flat = encode_record(&anonymous).unwrap();
        assert!(!flat.iter().any(|f| f == USER));
        assert_eq!(decode_record(anonymous.id, pairs(flat)).unwrap(), anonymous);
    }

    #[test]
    fn unknown_versions_and_damaged_metadata_are_corrupt() {
        let r = sample();
        let with = |field: &str, value: &str| {
            let mut flat = encode_record(&r).unwrap();
            let i = flat.iter().position(|f| f == field).unwrap();
            flat[i + 1] = value.into();
            decode_record(r.id, pairs(flat))
        };
        assert!(matches!(with(VERSION, "2"), Err(StoreError::Corrupt(m)) if m.contains("\"2\"")));
        assert!(matches!(with(EXPIRES, "soon"), Err(StoreError::Corrupt(_))));
        assert!(matches!(with(REVISION, "-1"), Err(StoreError::Corrupt(_))));
        assert!(matches!(with(BINDING, "{"), Err(StoreError::Corrupt(_))));
        let only_data = vec![(b"f:x".to_vec(), b"1".to_vec())];
        assert!(matches!(
            decode_record(r.id, only_data),
            Err(StoreError::Corrupt(_))
        ));
        let bad_utf8 = vec![(b"f:x".to_vec(), vec![0xff])];
        assert!(matches!(
            decode_record(r.id, bad_utf8),
            Err(StoreError::Corrupt(_))
        ));
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
            decode_info(r.id, vec![None; 6]).unwrap(),
            Listed::Missing
        ));
    }

    #[test]
    fn patches_namespace_data_and_flash() {
        let patch = SessionPatch {
            set_fields: [("a", "1")].into_iter().collect(),
            set_flash: [("a", "2")].into_iter().collect(),
            removed_fields: vec!["b".into()],
            removed_flash: vec!["c".into()],
            ..SessionPatch::default()
        };
        let (set, removed) = encode_patch(&patch);
        assert_eq!(set, ["f:a", "1", "l:a", "2"]);
        assert_eq!(removed, ["f:b", "l:c"]);
    }
}
