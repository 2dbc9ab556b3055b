//! What stores keep: session records, patches, listings.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{CookieLifetime, FieldMap, SessionId, Timestamp};

/// Version of the stored record format. Stores write it with every record and
/// refuse (as corrupt) formats they do not know, so the format can evolve.
pub const FORMAT_VERSION: u32 = 1;

/// Who a session belongs to (authsessions' `userId`, `label`, `meta`) and what
/// they may do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Binding {
    /// The user's id.
    pub user_id: String,
    /// A label for the session, such as the device name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Free-form JSON about the session.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub meta: Option<serde_json::Value>,
    /// Permissions granted at login.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<String>,
    /// How long the browser keeps the session's cookie ("remember me").
    #[serde(default, skip_serializing_if = "CookieLifetime::is_app_default")]
    pub cookie_lifetime: CookieLifetime,
    /// How long the session lives between uses, in place of the policy's
    /// [`lifetime`](crate::ExpiryPolicy::lifetime); whole milliseconds.
    #[serde(
        default,
        rename = "lifetime_ms",
        skip_serializing_if = "Option::is_none",
        with = "optional_millis"
    )]
    pub lifetime: Option<Duration>,
    /// The longest the session lives after its login, however much it is
    /// used, in place of the policy's
    /// [`absolute`](crate::ExpiryPolicy::absolute) limit; whole milliseconds.
    #[serde(
        default,
        rename = "absolute_ms",
        skip_serializing_if = "Option::is_none",
        with = "optional_millis"
    )]
    pub absolute: Option<Duration>,
}

/// `d` rounded up to whole milliseconds, at least one: stored durations
/// count milliseconds, and a zero one would end the session at once.
fn whole_millis(d: Duration) -> Duration {
    let millis = crate::clock::duration_millis(d)
        .saturating_add(u64::from(!d.subsec_nanos().is_multiple_of(1_000_000)));
    Duration::from_millis(millis.max(1))
}

/// An optional duration as a number of milliseconds.
mod optional_millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        lifetime: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match lifetime {
            Some(d) => serializer.serialize_some(&crate::clock::duration_millis(*d)),
            None => serializer.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(deserializer)?.map(Duration::from_millis))
    }
}

/// A field that is there, `null` included, is `Some`: meta set to JSON
/// `null` reads back as it was written, not as no meta.
fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(deserializer).map(Some)
}

impl Binding {
    /// A binding to `user_id` with no label, meta or permissions.
    pub fn user(user_id: impl Into<String>) -> Self {
        Self {
            user_id: user_id.into(),
            label: None,
            meta: None,
            permissions: Vec::new(),
            cookie_lifetime: CookieLifetime::AppDefault,
            lifetime: None,
            absolute: None,
        }
    }

    /// Sets the label.
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Sets the meta.
    pub fn with_meta(mut self, meta: serde_json::Value) -> Self {
        self.meta = Some(meta);
        self
    }

    /// Sets the permissions.
    pub fn with_permissions<I, S>(mut self, permissions: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.permissions = permissions.into_iter().map(Into::into).collect();
        self
    }

    /// Sets how long the browser keeps the session's cookie.
    pub fn with_cookie_lifetime(mut self, lifetime: CookieLifetime) -> Self {
        self.cookie_lifetime = lifetime;
        self
    }

    /// Sets how long this login's session lives between uses, in place of
    /// the policy's [`lifetime`](crate::ExpiryPolicy::lifetime): longer for
    /// a "remember me" login, say. Expiry slides as the policy's
    /// `refresh_threshold` says, and the absolute limit (the login's own,
    /// see [`with_absolute`](Self::with_absolute), else the policy's) still
    /// caps it. Rounded up to whole milliseconds, and at least one.
    pub fn with_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = Some(whole_millis(lifetime));
        self
    }

    /// Sets the longest this login's session lives after the login, however
    /// much it is used, in place of the policy's
    /// [`absolute`](crate::ExpiryPolicy::absolute) limit: 30 days for a
    /// "remember me" login whose app otherwise ends sessions after a day,
    /// say, or a short one for a login from an unfamiliar device. Rounded
    /// up to whole milliseconds, and at least one.
    pub fn with_absolute(mut self, limit: Duration) -> Self {
        self.absolute = Some(whole_millis(limit));
        self
    }

    /// Its bytes as the stores' size limits count them (see
    /// [`Capabilities::max_record_bytes`](crate::Capabilities::max_record_bytes)):
    /// the user id, the label, the meta as JSON text and the permissions.
    /// The meta is measured by writing it to a counter, allocating nothing.
    pub fn byte_size(&self) -> usize {
        let label = self.label.as_deref().map_or(0, str::len);
        let meta = self.meta.as_ref().map_or(0, json_size);
        let permissions: usize = self.permissions.iter().map(String::len).sum();
        self.user_id.len() + label + meta + permissions
    }
}

/// The length of `value` as JSON text.
fn json_size(value: &serde_json::Value) -> usize {
    /// Counts what is written, keeping nothing.
    struct Counter(usize);

    impl std::io::Write for Counter {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 = self.0.saturating_add(bytes.len());
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    let mut counter = Counter(0);
    // A `Value` always encodes (its keys are strings) and the counter never
    // fails; were it to, the largest size refuses the record.
    match serde_json::to_writer(&mut counter, value) {
        Ok(()) => counter.0,
        Err(_) => usize::MAX,
    }
}

/// The field of a moved marker naming the session's new id.
const MOVED_TO_FIELD: &str = "moved_to";

/// One stored session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// The id.
    pub id: SessionId,
    /// When the record was created.
    pub created_at: Timestamp,
    /// When the session was last written (data change or expiry refresh).
    pub last_seen: Timestamp,
    /// When the record stops loading.
    pub expires_at: Timestamp,
    /// The user it belongs to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binding: Option<Box<Binding>>,
    /// Typed data, field by field.
    #[serde(default)]
    pub fields: FieldMap,
    /// Flash values, each readable once.
    #[serde(default)]
    pub flash: FieldMap,
    /// Incremented by every data save; compare-and-set checks it.
    #[serde(default)]
    pub revision: u64,
}

impl SessionRecord {
    /// A new record with no data.
    pub fn new(id: SessionId, now: Timestamp, expires_at: Timestamp) -> Self {
        Self {
            id,
            created_at: now,
            last_seen: now,
            expires_at,
            binding: None,
            fields: FieldMap::new(),
            flash: FieldMap::new(),
            revision: 0,
        }
    }

    /// The marker a move (a login or rotation) leaves for the session
    /// `old` until `until`, under [`SessionId::moved_marker_id`]: a request
    /// that still carries the old token (sent before the login's answer came
    /// back) is then told from one whose session expired or was revoked. It
    /// holds nothing of the session but, with `to`, the new id, for a
    /// logout or revocation that raced the move to follow (never a request's
    /// access). It is created at its own expiry, which no session is: see
    /// [`is_moved_marker`](Self::is_moved_marker).
    pub fn moved_marker(
        old: SessionId,
        to: Option<SessionId>,
        now: Timestamp,
        until: Timestamp,
    ) -> Self {
        let mut record = Self::new(old.moved_marker_id(), until, until);
        record.last_seen = now;
        if let Some(to) = to {
            // Field values are JSON, and stores may check that they are.
            record.fields.insert(MOVED_TO_FIELD, format!("\"{to}\""));
        }
        record
    }

    /// The id a [`moved_marker`](Self::moved_marker) names as the session's
    /// new one, if it names one.
    pub fn moved_to(&self) -> Option<SessionId> {
        if !self.is_moved_marker() {
            return None;
        }
        let quoted = self.fields.get(MOVED_TO_FIELD)?;
        quoted.strip_prefix('"')?.strip_suffix('"')?.parse().ok()
    }

    /// Whether this is a [`moved_marker`](Self::moved_marker): created at
    /// its own expiry. A session's lifetime is never zero, and a record
    /// with none would never load.
    pub fn is_moved_marker(&self) -> bool {
        self.created_at == self.expires_at
    }

    /// Its bytes as the memory store's size limit counts them (other stores
    /// may count their encoding): the data and flash names and values
    /// ([`FieldMap::byte_size`]) plus the binding ([`Binding::byte_size`]).
    pub fn byte_size(&self) -> usize {
        let binding = self.binding.as_deref().map_or(0, Binding::byte_size);
        (self.fields.byte_size() + self.flash.byte_size()).saturating_add(binding)
    }

    /// Whether the record has expired at `now`.
    pub fn is_expired(&self, now: Timestamp) -> bool {
        now >= self.expires_at
    }

    /// The user id, if bound.
    pub fn user_id(&self) -> Option<&str> {
        self.binding.as_deref().map(|b| b.user_id.as_str())
    }

    /// How long the browser keeps its cookie: the binding's choice, the
    /// app's default for a session nobody logged into.
    pub fn cookie_lifetime(&self) -> CookieLifetime {
        self.binding
            .as_deref()
            .map_or(CookieLifetime::AppDefault, |b| b.cookie_lifetime)
    }

    /// The listing entry for this record.
    pub fn info(&self) -> SessionInfo {
        SessionInfo::new(
            self.id,
            self.binding.as_deref(),
            self.created_at,
            self.last_seen,
            self.expires_at,
        )
    }

    /// Applies a patch (fields, flash, expiry, revision) in place.
    pub fn apply(&mut self, patch: &SessionPatch) {
        self.fields.apply(&patch.set_fields, &patch.removed_fields);
        self.flash.apply(&patch.set_flash, &[]);
        self.flash.remove_unchanged(&patch.taken_flash);
        if let Some(expires_at) = patch.expires_at {
            self.expires_at = expires_at;
        }
        self.last_seen = self.last_seen.max(patch.last_seen);
        if patch.changes_data() {
            // A stored revision is input: no overflow panic on a damaged one.
            self.revision = self.revision.saturating_add(1);
        }
    }
}

/// A session as listed: no data, only who, when and what device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// The id.
    pub id: SessionId,
    /// The user, if bound.
    pub user_id: Option<String>,
    /// The label.
    pub label: Option<String>,
    /// The meta.
    pub meta: Option<serde_json::Value>,
    /// Created.
    pub created_at: Timestamp,
    /// Last used: written, or read once the service's last-seen interval
    /// had passed since the last record of its use.
    pub last_seen: Timestamp,
    /// Expires.
    pub expires_at: Timestamp,
    /// How long the browser keeps its cookie, as its login chose (a
    /// "remember me" box, for a page listing the user's devices).
    #[serde(default, skip_serializing_if = "CookieLifetime::is_app_default")]
    pub cookie_lifetime: CookieLifetime,
    /// The session's own lifetime, where its login set one.
    #[serde(
        default,
        rename = "lifetime_ms",
        skip_serializing_if = "Option::is_none",
        with = "optional_millis"
    )]
    pub lifetime: Option<Duration>,
    /// The session's own absolute limit, where its login set one.
    #[serde(
        default,
        rename = "absolute_ms",
        skip_serializing_if = "Option::is_none",
        with = "optional_millis"
    )]
    pub absolute: Option<Duration>,
}

impl SessionInfo {
    /// Whether this lists a [`moved_marker`](SessionRecord::moved_marker),
    /// which is no session.
    pub fn is_moved_marker(&self) -> bool {
        self.created_at == self.expires_at
    }

    /// The entry of session `id` bound by `binding`.
    pub(crate) fn new(
        id: SessionId,
        binding: Option<&Binding>,
        created_at: Timestamp,
        last_seen: Timestamp,
        expires_at: Timestamp,
    ) -> Self {
        Self {
            id,
            user_id: binding.map(|b| b.user_id.clone()),
            label: binding.and_then(|b| b.label.clone()),
            meta: binding.and_then(|b| b.meta.clone()),
            created_at,
            last_seen,
            expires_at,
            cookie_lifetime: binding.map_or(CookieLifetime::AppDefault, |b| b.cookie_lifetime),
            lifetime: binding.and_then(|b| b.lifetime),
            absolute: binding.and_then(|b| b.absolute),
        }
    }
}

/// Sorts listing entries most recently used first; ties by newest creation, then id.
pub fn sort_most_recent_first(items: &mut [SessionInfo]) {
    items.sort_by(|a, b| {
        b.last_seen
            .cmp(&a.last_seen)
            .then(b.created_at.cmp(&a.created_at))
            .then(a.id.cmp(&b.id))
    });
}

/// A change to one stored session. Stores that can patch write only these
/// fields, so concurrent patches of different fields both survive.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionPatch {
    /// Fields to set.
    pub set_fields: FieldMap,
    /// Fields to remove.
    pub removed_fields: Vec<Box<str>>,
    /// Flash values to set.
    pub set_flash: FieldMap,
    /// Flash values read, each with the value it had: a store removes each
    /// only while it still holds that value, so a flash a concurrent request
    /// set to another value meanwhile survives to be read (values are
    /// compared, so an equal value set again is removed). Stores apply sets before
    /// removals, so a name should not be both set and taken; persist never
    /// asks for that.
    pub taken_flash: FieldMap,
    /// New expiry, when refreshed.
    pub expires_at: Option<Timestamp>,
    /// The time of this write.
    pub last_seen: Timestamp,
    /// When set, the save applies only if the stored revision equals it.
    pub expected_revision: Option<u64>,
    /// The user the session is bound to, when the caller knows it and the
    /// patch moves the expiry: a store with a user index moves the session's
    /// index entry in the same step as the record, so a failure between the
    /// two never leaves a live session out of its user's index (see
    /// [`SessionStore::touch`](crate::SessionStore::touch)). With `None`,
    /// such a store finds the user itself.
    pub user_id: Option<String>,
}

impl SessionPatch {
    /// Whether the patch changes data or flash (not only expiry).
    pub fn changes_data(&self) -> bool {
        !self.set_fields.is_empty()
            || !self.removed_fields.is_empty()
            || !self.set_flash.is_empty()
            || !self.taken_flash.is_empty()
    }
}

/// What a save or touch found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveOutcome {
    /// Applied.
    Saved,
    /// The session no longer exists (expired, deleted or revoked); nothing was written.
    Missing,
    /// The stored revision differs from the expected one; nothing was written.
    Conflict {
        /// The stored revision.
        current: u64,
    },
}

/// A page request for [`SessionStore::list`](crate::SessionStore::list).
/// The default is the first page of [`DEFAULT_PAGE_SIZE`](Self::DEFAULT_PAGE_SIZE) entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// Where to continue: the `next` of the previous page; `None` for the first page.
    pub cursor: Option<String>,
    /// Most entries to return; stores may cap it, and take 0 as 1.
    pub limit: usize,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self::first(Self::DEFAULT_PAGE_SIZE)
    }
}

impl PageRequest {
    /// The page size of [`PageRequest::default`].
    pub const DEFAULT_PAGE_SIZE: usize = 100;

    /// The first page of `limit` entries.
    pub fn first(limit: usize) -> Self {
        Self {
            cursor: None,
            limit,
        }
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The entries.
    pub items: Vec<T>,
    /// The cursor of the next page, `None` on the last page.
    pub next: Option<String>,
}

/// The versioned envelope stores use to keep a whole record as bytes:
/// `{"v":<FORMAT_VERSION>,"r":{record}}` in JSON. Decoding refuses unknown
/// versions and damaged bytes with [`StoreError::Corrupt`](crate::StoreError::Corrupt).
pub mod envelope {
    use serde::{Deserialize, Serialize};

    use super::{FORMAT_VERSION, SessionRecord};
    use crate::StoreError;

    #[derive(Serialize)]
    struct Out<'a> {
        v: u32,
        r: &'a SessionRecord,
    }

    #[derive(Deserialize)]
    struct In<'a> {
        v: u32,
        #[serde(borrow)]
        r: Option<&'a serde_json::value::RawValue>,
    }

    /// Encodes a record with the current format version.
    pub fn encode(record: &SessionRecord) -> Result<Vec<u8>, StoreError> {
        serde_json::to_vec(&Out {
            v: FORMAT_VERSION,
            r: record,
        })
        .map_err(|e| StoreError::Corrupt(format!("record does not encode: {e}")))
    }

    /// Decodes a record, checking the format version.
    pub fn decode(bytes: &[u8]) -> Result<SessionRecord, StoreError> {
        let envelope: In = serde_json::from_slice(bytes).map_err(|e| {
            StoreError::Corrupt(format!(
                "record envelope does not decode: {}",
                crate::data::json_error_message(&e)
            ))
        })?;
        if envelope.v != FORMAT_VERSION {
            return Err(StoreError::Corrupt(format!(
                "record format version {} is not supported (this build reads {FORMAT_VERSION})",
                envelope.v
            )));
        }
        let record = envelope
            .r
            .ok_or_else(|| StoreError::Corrupt("record envelope has no record".into()))?;
        serde_json::from_str(record.get()).map_err(|e| {
            StoreError::Corrupt(format!(
                "record does not decode: {}",
                crate::data::json_error_message(&e)
            ))
        })
    }

    /// The session id in an envelope that does not [`decode`] (another
    /// format version, say), when its record still names one: for logs.
    pub fn session_id(bytes: &[u8]) -> Option<crate::SessionId> {
        #[derive(Deserialize)]
        struct Named {
            r: Option<Id>,
        }
        #[derive(Deserialize)]
        struct Id {
            id: crate::SessionId,
        }
        serde_json::from_slice::<Named>(bytes).ok()?.r.map(|r| r.id)
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::{Binding, SessionId, Timestamp};

        #[test]
        fn a_logins_lifetimes_are_stored_and_absent_ones_take_no_room() {
            let plain = Binding::user("ada");
            let json = serde_json::to_string(&plain).unwrap();
            assert_eq!(json, r#"{"user_id":"ada"}"#);
            let chosen = Binding::user("ada")
                .with_cookie_lifetime(crate::CookieLifetime::UntilExpiry)
                .with_lifetime(std::time::Duration::from_secs(30 * 24 * 3600))
                .with_absolute(std::time::Duration::from_secs(90 * 24 * 3600));
            let json = serde_json::to_string(&chosen).unwrap();
            assert_eq!(
                json,
                r#"{"user_id":"ada","cookie_lifetime":"until_expiry","lifetime_ms":2592000000,"absolute_ms":7776000000}"#
            );
            assert_eq!(serde_json::from_str::<Binding>(&json).unwrap(), chosen);
            // A binding stored before these existed reads with the defaults.
            assert_eq!(
                serde_json::from_str::<Binding>(r#"{"user_id":"ada"}"#).unwrap(),
                plain
            );
            // An unknown lifetime is a decoding error (a corrupt record), not a default.
            assert!(
                serde_json::from_str::<Binding>(r#"{"user_id":"a","cookie_lifetime":"x"}"#)
                    .is_err()
            );
        }

        #[test]
        fn byte_size_counts_data_flash_and_the_whole_binding() {
            let now = Timestamp::from_millis(1_700_000_000_000);
            let mut r = SessionRecord::new(SessionId::generate(), now, now);
            r.fields.insert("count", "3");
            r.flash.insert("error", "\"bad\"");
            assert_eq!(r.byte_size(), 6 + 10);
            let binding = Binding::user("ada")
                .with_label("phone")
                .with_meta(serde_json::json!({"ip": "::1"}))
                .with_permissions(["admin"]);
            // {"ip":"::1"} is 12 bytes as JSON.
            assert_eq!(binding.byte_size(), 3 + 5 + 12 + 5);
            r.binding = Some(Box::new(binding));
            assert_eq!(r.byte_size(), 16 + 25);
            assert_eq!(Binding::user("").byte_size(), 0);
            assert_eq!(
                Binding::user("u")
                    .with_meta(serde_json::Value::Null)
                    .byte_size(),
                1 + 4
            );
        }

        #[test]
        fn a_patch_on_a_record_at_the_last_revision_does_not_overflow() {
            let now = Timestamp::from_millis(1_700_000_000_000);
            let mut r = SessionRecord::new(SessionId::generate(), now, now);
            r.revision = u64::MAX;
            let mut patch = crate::SessionPatch {
                last_seen: now,
                ..Default::default()
            };
            patch.set_fields.insert("count", "1");
            r.apply(&patch);
            assert_eq!(r.revision, u64::MAX);
        }

        #[test]
        fn round_trips_and_refuses_other_versions_and_garbage() {
            let now = Timestamp::from_millis(1_700_000_000_000);
            let mut r = SessionRecord::new(
                SessionId::generate(),
                now,
                now.plus(std::time::Duration::from_secs(60)),
            );
            r.fields.insert("count", "3");
            r.flash.insert("error", "\"bad\"");
            r.binding = Some(Box::new(
                Binding::user("u").with_meta(serde_json::json!({"a": [1]})),
            ));
            let bytes = encode(&r).unwrap();
            assert_eq!(decode(&bytes).unwrap(), r);
            let v2 = String::from_utf8(bytes)
                .unwrap()
                .replacen("\"v\":1", "\"v\":2", 1);
            assert!(
                matches!(decode(v2.as_bytes()), Err(StoreError::Corrupt(m)) if m.contains("version 2"))
            );
            assert_eq!(session_id(v2.as_bytes()), Some(r.id), "still named");
            assert_eq!(session_id(b"{\"v\":2,\"r\":[1]}"), None);
            assert!(matches!(
                decode(b"\xff\x00garbage"),
                Err(StoreError::Corrupt(_))
            ));
            assert!(matches!(decode(b"{\"v\":1}"), Err(StoreError::Corrupt(_))));
            assert!(matches!(
                decode(b"{\"v\":1,\"r\":{\"id\":\"short\"}}"),
                Err(StoreError::Corrupt(_))
            ));
            // A user id of the wrong type: the message, which goes into a
            // warning, does not quote it.
            let damaged = String::from_utf8(encode(&r).unwrap()).unwrap().replacen(
                "\"user_id\":\"u\"",
                "\"user_id\":987654321",
                1,
            );
            match decode(damaged.as_bytes()) {
                Err(StoreError::Corrupt(m)) => {
                    assert!(m.contains("expected"), "{m}");
                    assert!(!m.contains("987654321"), "{m}");
                }
                other => panic!("decoded {other:?}"),
            }
        }
    }
}
