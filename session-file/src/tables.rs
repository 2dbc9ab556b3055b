//! The on-disk layout: one table of records and two index tables, kept
//! consistent by writing all three in the same transaction.
//!
//! - `sessions`: id (16 raw bytes) → the record in the versioned envelope of
//!   [`session_core::record::envelope`].
//! - `sessions_by_expiry`: (expires_at in ms, id) → nothing. Ordered by time,
//!   so the expired sessions are one range scan from the start.
//! - `sessions_by_user`: (user id, id) → nothing. A user's sessions are one
//!   range scan of that user's prefix.
//! - `layout`: `"version"` → [`LAYOUT_VERSION`], refused when it differs.
//!
//! Readers never trust an index entry blindly: they check it against the
//! record it names, skip it when it does not match and let writers remove it.

use redb::{ReadOnlyTable, ReadableTable, ReadableTableMetadata, Table, TableDefinition};
use session_core::record::envelope;
use session_core::{SessionId, SessionRecord, StoreError, Timestamp};

use crate::error::db_error;
use crate::report::RepairReport;

/// The raw form of a session id, the key of the record table.
pub(crate) type IdBytes = [u8; session_core::id::SESSION_ID_BYTES];

/// Records by id.
pub(crate) const SESSIONS: TableDefinition<&IdBytes, &[u8]> = TableDefinition::new("sessions");
/// Expiry index: (expires_at ms, id).
pub(crate) const EXPIRY: TableDefinition<(u64, &IdBytes), ()> =
    TableDefinition::new("sessions_by_expiry");
/// User index: (user id, id).
pub(crate) const USERS: TableDefinition<(&str, &IdBytes), ()> =
    TableDefinition::new("sessions_by_user");
/// Layout version of the file.
pub(crate) const LAYOUT: TableDefinition<&str, u32> = TableDefinition::new("layout");

/// Version of the table layout described above.
pub(crate) const LAYOUT_VERSION: u32 = 1;
/// The key of the layout version in [`LAYOUT`].
pub(crate) const LAYOUT_KEY: &str = "version";

const ID_MIN: IdBytes = [0; session_core::id::SESSION_ID_BYTES];
const ID_MAX: IdBytes = [u8::MAX; session_core::id::SESSION_ID_BYTES];

/// Decodes a stored record, checking that it is stored under its own id.
pub(crate) fn decode(key: &IdBytes, bytes: &[u8]) -> Result<SessionRecord, StoreError> {
    let record = envelope::decode(bytes)?;
    if record.id.as_bytes() != key {
        return Err(StoreError::Corrupt(format!(
            "record stored under {} holds the id {}",
            SessionId::from_bytes(*key).short(),
            record.id.short()
        )));
    }
    Ok(record)
}

/// What a lookup found under an id.
#[derive(Debug)]
pub(crate) enum Slot {
    /// No record.
    Empty,
    /// A record that has not expired.
    Live(SessionRecord),
    /// A record past its expiry, not yet removed.
    Expired(SessionRecord),
    /// Bytes that do not decode.
    Corrupt(StoreError),
}

impl Slot {
    fn of(key: &IdBytes, bytes: Option<&[u8]>, now: Timestamp) -> Self {
        match bytes.map(|b| decode(key, b)) {
            None => Slot::Empty,
            Some(Ok(r)) if r.is_expired(now) => Slot::Expired(r),
            Some(Ok(r)) => Slot::Live(r),
            Some(Err(e)) => Slot::Corrupt(e),
        }
    }
}

/// Logs a record that does not decode, with a short id that is safe to log.
pub(crate) fn log_corrupt(id: &IdBytes, error: &StoreError) {
    tracing::warn!(
        session = %SessionId::from_bytes(*id).short(),
        %error,
        "stored session does not decode; treated as no session"
    );
}

/// The tables of one write transaction.
pub(crate) struct WriteTables<'t> {
    sessions: Table<'t, &'static IdBytes, &'static [u8]>,
    expiry: Table<'t, (u64, &'static IdBytes), ()>,
    users: Table<'t, (&'static str, &'static IdBytes), ()>,
    /// How many writes were made, so the transaction must commit when any
    /// was (see [`dirty`](Self::dirty)).
    pub(crate) writes: usize,
}

impl<'t> WriteTables<'t> {
    /// Opens (creating when missing) every table in `txn`.
    pub(crate) fn open(txn: &'t redb::WriteTransaction) -> Result<Self, StoreError> {
        Ok(Self {
            sessions: txn.open_table(SESSIONS).map_err(db_error)?,
            expiry: txn.open_table(EXPIRY).map_err(db_error)?,
            users: txn.open_table(USERS).map_err(db_error)?,
            writes: 0,
        })
    }

    /// Whether anything was written, so the transaction must commit.
    pub(crate) fn dirty(&self) -> bool {
        self.writes > 0
    }

    /// Records held, live or expired but not swept yet.
    pub(crate) fn len(&self) -> Result<u64, StoreError> {
        self.sessions.len().map_err(db_error)
    }

    /// The record under `id`.
    pub(crate) fn get(&self, id: &IdBytes, now: Timestamp) -> Result<Slot, StoreError> {
        let guard = self.sessions.get(id).map_err(db_error)?;
        Ok(Slot::of(id, guard.as_ref().map(|g| g.value()), now))
    }

    /// Writes `record` (already encoded as `bytes`) and its index entries,
    /// replacing those of `old`, the record it overwrites.
    pub(crate) fn put(
        &mut self,
        old: Option<&SessionRecord>,
        record: &SessionRecord,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        let id = record.id.as_bytes();
        self.writes += 1;
        self.sessions.insert(id, bytes).map_err(db_error)?;
        let expires = record.expires_at.as_millis();
        match old {
            Some(old) if old.expires_at.as_millis() == expires => {}
            Some(old) => {
                self.expiry
                    .remove((old.expires_at.as_millis(), id))
                    .map_err(db_error)?;
                self.expiry.insert((expires, id), ()).map_err(db_error)?;
            }
            None => {
                self.expiry.insert((expires, id), ()).map_err(db_error)?;
            }
        }
        let old_user = old.and_then(SessionRecord::user_id);
        if old_user != record.user_id() {
            if let Some(user) = old_user {
                self.users.remove((user, id)).map_err(db_error)?;
            }
            if let Some(user) = record.user_id() {
                self.users.insert((user, id), ()).map_err(db_error)?;
            }
        }
        Ok(())
    }

    /// Removes the record under `id` and, when it is known, its index entries.
    /// Entries of a record that did not decode stay behind as stale entries,
    /// which readers skip: the cleanup removes the expiry entry, a listing
    /// or revoke-all of the user (or `repair_indexes`) the user entry.
    pub(crate) fn remove(
        &mut self,
        id: &IdBytes,
        known: Option<&SessionRecord>,
    ) -> Result<(), StoreError> {
        self.writes += 1;
        self.sessions.remove(id).map_err(db_error)?;
        if let Some(record) = known {
            self.expiry
                .remove((record.expires_at.as_millis(), id))
                .map_err(db_error)?;
            if let Some(user) = record.user_id() {
                self.users.remove((user, id)).map_err(db_error)?;
            }
        }
        Ok(())
    }

    /// Up to `max` expiry-index entries at or before `now`, oldest first.
    pub(crate) fn expired_entries(
        &self,
        now: Timestamp,
        max: usize,
    ) -> Result<Vec<(u64, IdBytes)>, StoreError> {
        let mut out = Vec::new();
        for entry in self
            .expiry
            .range(..=(now.as_millis(), &ID_MAX))
            .map_err(db_error)?
            .take(max)
        {
            let (key, _) = entry.map_err(db_error)?;
            let (at, id) = key.value();
            out.push((at, *id));
        }
        Ok(out)
    }

    /// Removes one expiry-index entry.
    pub(crate) fn remove_expiry_entry(&mut self, at: u64, id: &IdBytes) -> Result<(), StoreError> {
        self.writes += 1;
        self.expiry.remove((at, id)).map_err(db_error)?;
        Ok(())
    }

    /// The ids in `user`'s index.
    pub(crate) fn user_ids(&self, user: &str) -> Result<Vec<IdBytes>, StoreError> {
        user_ids(&self.users, user)
    }

    /// Makes both indexes match the records: adds the entries a decodable
    /// record lacks and removes those that match no record. Entries that name
    /// a record which does not decode stay, so the cleanup still finds it.
    pub(crate) fn rebuild_indexes(&mut self) -> Result<RepairReport, StoreError> {
        use std::collections::HashSet;
        let mut expiry: HashSet<(u64, IdBytes)> = HashSet::new();
        let mut users: HashSet<(String, IdBytes)> = HashSet::new();
        let mut corrupt: HashSet<IdBytes> = HashSet::new();
        for entry in self.sessions.iter().map_err(db_error)? {
            let (key, value) = entry.map_err(db_error)?;
            let id = *key.value();
            match decode(&id, value.value()) {
                Ok(record) => {
                    expiry.insert((record.expires_at.as_millis(), id));
                    if let Some(user) = record.user_id() {
                        users.insert((user.to_owned(), id));
                    }
                }
                Err(_) => {
                    corrupt.insert(id);
                }
            }
        }
        let mut report = RepairReport::default();
        let mut stale_expiry = Vec::new();
        for entry in self.expiry.iter().map_err(db_error)? {
            let (key, _) = entry.map_err(db_error)?;
            let (at, id) = key.value();
            if !expiry.remove(&(at, *id)) && !corrupt.contains(id) {
                stale_expiry.push((at, *id));
            }
        }
        let mut stale_users = Vec::new();
        for entry in self.users.iter().map_err(db_error)? {
            let (key, _) = entry.map_err(db_error)?;
            let (user, id) = key.value();
            let wanted = (user.to_owned(), *id);
            if !users.remove(&wanted) && !corrupt.contains(id) {
                stale_users.push(wanted);
            }
        }
        report.removed = stale_expiry.len() + stale_users.len();
        report.added = expiry.len() + users.len();
        if report.removed + report.added > 0 {
            self.writes += 1;
        }
        for (at, id) in stale_expiry {
            self.expiry.remove((at, &id)).map_err(db_error)?;
        }
        for (user, id) in stale_users {
            self.users.remove((user.as_str(), &id)).map_err(db_error)?;
        }
        for (at, id) in expiry {
            self.expiry.insert((at, &id), ()).map_err(db_error)?;
        }
        for (user, id) in users {
            self.users
                .insert((user.as_str(), &id), ())
                .map_err(db_error)?;
        }
        Ok(report)
    }

    /// Removes one user-index entry.
    pub(crate) fn remove_user_entry(&mut self, user: &str, id: &IdBytes) -> Result<(), StoreError> {
        self.writes += 1;
        self.users.remove((user, id)).map_err(db_error)?;
        Ok(())
    }
}

/// The tables of one read transaction.
pub(crate) struct ReadTables {
    pub(crate) sessions: ReadOnlyTable<&'static IdBytes, &'static [u8]>,
    pub(crate) expiry: ReadOnlyTable<(u64, &'static IdBytes), ()>,
    pub(crate) users: ReadOnlyTable<(&'static str, &'static IdBytes), ()>,
}

impl ReadTables {
    /// Opens every table in `txn`.
    pub(crate) fn open(txn: &redb::ReadTransaction) -> Result<Self, StoreError> {
        Ok(Self {
            sessions: txn.open_table(SESSIONS).map_err(db_error)?,
            expiry: txn.open_table(EXPIRY).map_err(db_error)?,
            users: txn.open_table(USERS).map_err(db_error)?,
        })
    }

    /// The record under `id`.
    pub(crate) fn get(&self, id: &IdBytes, now: Timestamp) -> Result<Slot, StoreError> {
        let guard = self.sessions.get(id).map_err(db_error)?;
        Ok(Slot::of(id, guard.as_ref().map(|g| g.value()), now))
    }

    /// The ids in `user`'s index.
    pub(crate) fn user_ids(&self, user: &str) -> Result<Vec<IdBytes>, StoreError> {
        user_ids(&self.users, user)
    }
}

fn user_ids(
    users: &impl ReadableTable<(&'static str, &'static IdBytes), ()>,
    user: &str,
) -> Result<Vec<IdBytes>, StoreError> {
    let mut out = Vec::new();
    for entry in users
        .range((user, &ID_MIN)..=(user, &ID_MAX))
        .map_err(db_error)?
    {
        let (key, _) = entry.map_err(db_error)?;
        out.push(*key.value().1);
    }
    Ok(out)
}

/// Stored bytes come from the disk: under generated cases any bytes under
/// any id, and valid records changed by a byte, cut short or with a piece
/// repeated, decode to the record stored under its own id or to
/// [`StoreError::Corrupt`], never a panic; and a store holding such bytes
/// and index entries naming them answers every call with a value or that
/// error (a page cursor it did not hand out, [`StoreError::InvalidCursor`]).
#[cfg(test)]
mod properties {
    use std::sync::Arc;
    use std::time::Duration;

    use proptest::prelude::*;
    use session_core::clock::Clock as _;
    use session_core::{Binding, MockClock, PageRequest};

    use super::*;
    use crate::FileStore;

    prop_compose! {
        fn record()(
            raw_id in any::<IdBytes>(),
            created in 0u64..4_000_000_000_000,
            life in 0u64..1_000_000_000,
            fields in prop::collection::vec((".{0,8}", any::<i64>()), 0..4),
            user in prop::option::of("[a-c]{1,2}"),
            revision in any::<u64>(),
        ) -> SessionRecord {
            let created = Timestamp::from_millis(created);
            let mut r = SessionRecord::new(
                SessionId::from_bytes(raw_id),
                created,
                created.plus(Duration::from_millis(life)),
            );
            r.fields = fields.into_iter().map(|(k, v)| (k, v.to_string())).collect();
            r.binding = user.map(|u| Box::new(Binding::user(u).with_label("laptop")));
            r.revision = revision;
            r
        }
    }

    /// `bytes` changed: one byte replaced, cut short, a piece repeated, or a
    /// long run of digits added.
    fn perturbed(bytes: &[u8], how: u8, at: usize, with: u8) -> Vec<u8> {
        let at = at % bytes.len().max(1);
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

    /// What may sit in the record table: any bytes, or a record's envelope
    /// as written or changed.
    fn stored() -> impl Strategy<Value = Vec<u8>> {
        let with = prop_oneof![
            any::<u8>(),
            prop::sample::select(b"{}[]\":,0-9 \\\xff".to_vec())
        ];
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..200),
            record().prop_map(|r| envelope::encode(&r).unwrap()),
            (record(), any::<u8>(), any::<usize>(), with).prop_map(|(r, how, at, with)| {
                perturbed(&envelope::encode(&r).unwrap(), how, at, with)
            }),
        ]
    }

    fn is_corrupt(error: &StoreError) -> bool {
        matches!(error, StoreError::Corrupt(_))
    }

    /// Writes `bytes` under `id`, and index entries naming it, behind the store's back.
    fn plant(store: &FileStore, id: &IdBytes, bytes: &[u8], user: &str, expiry: u64) {
        store
            .inner
            .db
            .run(|db| {
                let txn = db.begin_write().map_err(db_error)?;
                {
                    let mut sessions = txn.open_table(SESSIONS).map_err(db_error)?;
                    sessions.insert(id, bytes).map_err(db_error)?;
                    let mut users = txn.open_table(USERS).map_err(db_error)?;
                    users.insert((user, id), ()).map_err(db_error)?;
                    let mut expiry_index = txn.open_table(EXPIRY).map_err(db_error)?;
                    expiry_index.insert((expiry, id), ()).map_err(db_error)?;
                }
                txn.commit().map_err(db_error)
            })
            .unwrap();
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn stored_bytes_are_the_record_under_its_own_id_or_corrupt(
            key in any::<IdBytes>(),
            bytes in stored(),
        ) {
            match decode(&key, &bytes) {
                Ok(r) => {
                    prop_assert_eq!(r.id.as_bytes(), &key);
                    prop_assert_eq!(envelope::decode(&bytes).unwrap(), r);
                }
                Err(error) => prop_assert!(is_corrupt(&error), "{error:?}"),
            }
        }

        #[test]
        fn records_round_trip_under_their_own_id_only(r in record(), other in any::<IdBytes>()) {
            let bytes = envelope::encode(&r).unwrap();
            prop_assert_eq!(decode(r.id.as_bytes(), &bytes).unwrap(), r.clone());
            if &other != r.id.as_bytes() {
                let moved = decode(&other, &bytes);
                prop_assert!(matches!(&moved, Err(e) if is_corrupt(e)), "{moved:?}");
            }
        }
    }

    /// One store for every case: each case plants its bytes under a new
    /// id, and leaves the store as it found it.
    #[test]
    fn a_store_holding_any_bytes_answers_values_or_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let clock = MockClock::starting_now();
        let store = FileStore::builder(dir.path().join("sessions.redb"))
            .clock(Arc::new(clock.clone()))
            .without_cleanup()
            .open()
            .unwrap();
        let inner = &store.inner;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let now = clock.now();
        // Cursor text a caller may send: anything, or id-like.
        let cursor = prop_oneof![".{0,30}", "[A-Za-z0-9_-]{20,24}"];
        let cases = (
            any::<IdBytes>(),
            stored(),
            "[a-c]{1,2}",
            any::<bool>(),
            cursor,
        );
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(256));
        let result = runner.run(&cases, |(key, bytes, user, expired, cursor)| {
            let indexed_at = if expired {
                now.as_millis() - 1
            } else {
                now.as_millis() + 1000
            };
            plant(&store, &key, &bytes, &user, indexed_at);
            let id = SessionId::from_bytes(key);
            let decoded = decode(&key, &bytes);
            let live = decoded.as_ref().ok().filter(|r| !r.is_expired(now));

            match (inner.load(&id), &decoded) {
                (Ok(Some(r)), Ok(stored)) => {
                    prop_assert_eq!(&r, stored);
                    prop_assert!(!r.is_expired(now));
                }
                (Ok(None), Ok(stored)) => prop_assert!(stored.is_expired(now)),
                (Err(error), Err(_)) => prop_assert!(is_corrupt(&error), "{error:?}"),
                (result, _) => prop_assert!(false, "loaded {result:?} from {decoded:?}"),
            }
            // Listings hold only this user's live sessions, however the index lies.
            for info in inner.list_for_user(&user).unwrap() {
                prop_assert_eq!(info.user_id.as_deref(), Some(user.as_str()));
                prop_assert_eq!(Some(info), live.map(SessionRecord::info));
            }
            let page = inner.list(&PageRequest::first(10)).unwrap();
            prop_assert_eq!(
                page.items,
                live.map(SessionRecord::info)
                    .into_iter()
                    .collect::<Vec<_>>()
            );
            let given = PageRequest {
                cursor: Some(cursor.clone()),
                limit: 10,
            };
            match (inner.list(&given), cursor.parse::<SessionId>()) {
                (Ok(page), Ok(after)) => {
                    let expected = live.filter(|r| r.id.as_bytes() > after.as_bytes());
                    prop_assert_eq!(
                        page.items,
                        expected
                            .map(SessionRecord::info)
                            .into_iter()
                            .collect::<Vec<_>>()
                    );
                }
                (Err(StoreError::InvalidCursor(_)), Err(_)) => {}
                (result, _) => prop_assert!(false, "{:?}: listed {:?}", cursor, result),
            }
            let check = inner.check().unwrap();
            prop_assert_eq!(check.records, 1);
            prop_assert_eq!(check.corrupt, usize::from(decoded.is_err()));
            let repaired = inner.repair_indexes().unwrap();
            prop_assert!(repaired.added + repaired.removed <= 4, "{repaired:?}");

            // The sweep removes what its index calls expired and cannot
            // read; a delete removes whatever is left.
            inner.sweep_batch(crate::ops::SWEEP_BATCH).unwrap();
            if expired && decoded.is_err() {
                prop_assert_eq!(inner.load(&id).unwrap(), None);
            }
            runtime.block_on(inner.delete(id)).unwrap();
            prop_assert_eq!(inner.load(&id).unwrap(), None);
            // Entries that named an unreadable record stay until a repair.
            inner.repair_indexes().unwrap();
            let check = inner.check().unwrap();
            prop_assert!(check.is_consistent() && check.records == 0, "{check:?}");
            Ok(())
        });
        if let Err(failure) = result {
            panic!("{failure}");
        }
    }
}
