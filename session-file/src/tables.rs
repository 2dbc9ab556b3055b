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

use redb::{ReadOnlyTable, ReadableTable, Table, TableDefinition};
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
    /// Whether anything was written, so the transaction must commit.
    pub(crate) dirty: bool,
}

impl<'t> WriteTables<'t> {
    /// Opens (creating when missing) every table in `txn`.
    pub(crate) fn open(txn: &'t redb::WriteTransaction) -> Result<Self, StoreError> {
        Ok(Self {
            sessions: txn.open_table(SESSIONS).map_err(db_error)?,
            expiry: txn.open_table(EXPIRY).map_err(db_error)?,
            users: txn.open_table(USERS).map_err(db_error)?,
            dirty: false,
        })
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
        self.dirty = true;
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
        self.dirty = true;
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
        self.dirty = true;
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
            self.dirty = true;
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
        self.dirty = true;
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
