//! The store's operations as database transactions. The
//! [`SessionStore`](session_core::SessionStore) methods run them on tokio's
//! blocking pool, or queue them there for a shared commit (the per-session
//! writes), or run them on the calling task (a load, by default); the
//! cleanup thread calls the sweep directly.
//!
//! Every write reads the current record, decides, and writes the record
//! together with its index entries, inside a write transaction committed
//! with immediate durability (the commit is on disk when it returns). The
//! per-session writes (create, save, touch, rebind, delete) share
//! transactions with the writes queued beside them (see the `group`
//! module); the others have one each. A transaction that wrote nothing is
//! aborted instead, so reads and refusals cost no disk flush.

use std::ops::Bound;
use std::sync::Arc;

use redb::{Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata};
use session_core::record::{envelope, sort_most_recent_first};
use session_core::{
    Binding, Page, PageRequest, SaveOutcome, SessionId, SessionInfo, SessionPatch, SessionRecord,
    StoreError, Timestamp,
};

use crate::error::db_error;
use crate::report::{CheckReport, RepairReport, StoreStats, SweepReport};
use crate::store::{Inner, on_blocking_pool};
use crate::tables::{IdBytes, ReadTables, Slot, WriteTables, decode, log_corrupt};

/// Most entries one listing page returns, whatever the request asks.
pub const MAX_PAGE: usize = 1000;

/// When [`Inner::modify`] holds the changed record to the size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SizeCheck {
    /// Never: the change adds no bytes.
    Skip,
    /// Always.
    Always,
    /// Only when the record's encoding grows: one stored under a larger
    /// limit can still shrink.
    WhenGrown,
}

/// Expiry-index entries one sweep transaction handles, so a sweep never holds
/// the write lock for long.
pub(crate) const SWEEP_BATCH: usize = 256;

impl Inner {
    pub(crate) fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Runs `f` in a write transaction; commits when it succeeded and wrote
    /// something, aborts otherwise. `f` gets the time read once the
    /// transaction began: a write waiting for another to commit must not
    /// judge expiry by the time it started waiting.
    fn write<T>(
        &self,
        f: impl FnOnce(&mut WriteTables<'_>, Timestamp) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.db.run(|db| Self::write_on(db, |t| f(t, self.now())))
    }

    /// One write transaction on `db`: commits when `f` succeeded and wrote
    /// something, aborts otherwise.
    pub(crate) fn write_on<T>(
        db: &redb::Database,
        f: impl FnOnce(&mut WriteTables<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut txn = db.begin_write().map_err(db_error)?;
        txn.set_durability(Durability::Immediate)
            .map_err(db_error)?;
        let (result, dirty) = match WriteTables::open(&txn) {
            Ok(mut tables) => {
                let result = f(&mut tables);
                (result, tables.dirty())
            }
            Err(e) => (Err(e), false),
        };
        match result {
            Ok(value) if dirty => {
                txn.commit().map_err(db_error)?;
                Ok(value)
            }
            other => {
                if let Err(error) = txn.abort() {
                    tracing::debug!(%error, "aborting a session store transaction failed");
                }
                other
            }
        }
    }

    /// Runs `f` on a consistent snapshot.
    fn read<T>(
        &self,
        f: impl FnOnce(&ReadTables) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.db.run(|db| Self::read_on(db, f))
    }

    fn read_on<T>(
        db: &redb::Database,
        f: impl FnOnce(&ReadTables) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let txn = db.begin_read().map_err(db_error)?;
        f(&ReadTables::open(&txn)?)
    }

    /// The envelope bytes of `record`, refused when over the size limit.
    fn encode(&self, record: &SessionRecord) -> Result<Vec<u8>, StoreError> {
        let bytes = envelope::encode(record)?;
        within_limit(bytes.len(), self.max_record_bytes)?;
        Ok(bytes)
    }

    pub(crate) async fn create(self: &Arc<Self>, record: SessionRecord) -> Result<(), StoreError> {
        let bytes: Arc<[u8]> = self.encode(&record)?.into();
        // Logins and markers are always taken (see `FileStoreBuilder::max_sessions`).
        let cap = self
            .max_sessions
            .filter(|_| record.binding.is_none() && !record.is_moved_marker());
        let record = Arc::new(record);
        if self.create_within(&record, &bytes, cap).await? {
            return Ok(());
        }
        // Full: expired records make room first, in a transaction of their
        // own (a refused create commits nothing), then one more try.
        let inner = Arc::clone(self);
        on_blocking_pool(move || inner.sweep_batch(SWEEP_BATCH)).await?;
        if self.create_within(&record, &bytes, cap).await? {
            return Ok(());
        }
        let max = cap.unwrap_or(u64::MAX);
        // The caller logs the error (the web layer at warn).
        tracing::debug!(
            max,
            "file store is full; a new anonymous session is refused"
        );
        Err(StoreError::unavailable(format!(
            "the file store holds its maximum of {max} sessions"
        )))
    }

    /// Creates `record` in one transaction unless the file holds `cap`
    /// records or more; `false`, with nothing written, when it does.
    async fn create_within(
        self: &Arc<Self>,
        record: &Arc<SessionRecord>,
        bytes: &Arc<[u8]>,
        cap: Option<u64>,
    ) -> Result<bool, StoreError> {
        let (record, bytes) = (Arc::clone(record), Arc::clone(bytes));
        self.write_grouped(move |t, now| {
            let id = record.id.as_bytes();
            if let Some(max) = cap
                && t.len()? >= max
            {
                return Ok(false);
            }
            match t.get(id, now)? {
                Slot::Empty => t.put(None, &record, &bytes)?,
                Slot::Expired(old) => t.put(Some(&old), &record, &bytes)?,
                Slot::Live(_) => return Err(StoreError::Collision),
                Slot::Corrupt(error) => {
                    // It may be live: never overwrite it.
                    log_corrupt(id, &error);
                    return Err(StoreError::Collision);
                }
            }
            Ok(true)
        })
        .await
    }

    pub(crate) fn load(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        self.db.run(|db| self.load_on(db, id))
    }

    /// [`load`](Self::load) on the caller's thread, or `None` while the
    /// file is closed (see [`Database::run_here`](crate::database::Database::run_here)).
    pub(crate) fn load_here(
        &self,
        id: &SessionId,
    ) -> Option<Result<Option<SessionRecord>, StoreError>> {
        self.db.run_here(|db| self.load_on(db, id))
    }

    fn load_on(
        &self,
        db: &redb::Database,
        id: &SessionId,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let now = self.now();
        Self::read_on(db, |t| match t.get(id.as_bytes(), now)? {
            Slot::Live(record) => Ok(Some(record)),
            Slot::Empty | Slot::Expired(_) => Ok(None),
            // Its index entries stay: the user entry (its user unknown, so
            // found only by scanning the whole index) is what lets the user's
            // revoke-all find and delete it, and readers skip it meanwhile.
            Slot::Corrupt(error) => Err(error),
        })
    }

    /// Applies `change` to the live record under `id` in one transaction.
    /// A missing record is `Missing`; an expired one is deleted and `Missing`.
    /// A result over the size limit is refused as `check` says.
    async fn modify(
        self: &Arc<Self>,
        id: SessionId,
        check: SizeCheck,
        change: impl Fn(&SessionRecord) -> Result<Result<SessionRecord, SaveOutcome>, StoreError>
        + Send
        + 'static,
    ) -> Result<SaveOutcome, StoreError> {
        let limit = self.max_record_bytes;
        self.write_grouped(move |t, now| {
            let key = id.as_bytes();
            let current = match t.get(key, now)? {
                Slot::Live(record) => record,
                Slot::Empty => return Ok(SaveOutcome::Missing),
                Slot::Expired(old) => {
                    t.remove(key, Some(&old))?;
                    return Ok(SaveOutcome::Missing);
                }
                Slot::Corrupt(error) => return Err(error),
            };
            match change(&current)? {
                Ok(updated) => {
                    let bytes = envelope::encode(&updated)?;
                    let checked = match check {
                        SizeCheck::Skip => false,
                        SizeCheck::Always => true,
                        // The current one is encoded only for a record over the limit.
                        SizeCheck::WhenGrown => {
                            bytes.len() > limit && bytes.len() > envelope::encode(&current)?.len()
                        }
                    };
                    if checked {
                        within_limit(bytes.len(), limit)?;
                    }
                    t.put(Some(&current), &updated, &bytes)?;
                    Ok(SaveOutcome::Saved)
                }
                Err(outcome) => Ok(outcome),
            }
        })
        .await
    }

    pub(crate) async fn save(
        self: &Arc<Self>,
        id: SessionId,
        patch: SessionPatch,
    ) -> Result<SaveOutcome, StoreError> {
        // A save that sets nothing cannot grow the record: one stored under
        // a larger limit can still lose values and record its use.
        let grows = !patch.set_fields.is_empty() || !patch.set_flash.is_empty();
        let check = if grows {
            SizeCheck::Always
        } else {
            SizeCheck::Skip
        };
        self.modify(id, check, move |current| {
            if let Some(expected) = patch.expected_revision
                && current.revision != expected
            {
                return Ok(Err(SaveOutcome::Conflict {
                    current: current.revision,
                }));
            }
            let mut updated = current.clone();
            updated.apply(&patch);
            Ok(Ok(updated))
        })
        .await
    }

    pub(crate) async fn touch(
        self: &Arc<Self>,
        id: SessionId,
        expires_at: Timestamp,
        last_seen: Timestamp,
    ) -> Result<SaveOutcome, StoreError> {
        // No size check: a touch adds no data, and a record stored under a
        // larger limit must still be refreshed after the limit was lowered.
        self.modify(id, SizeCheck::Skip, move |current| {
            let mut updated = current.clone();
            updated.expires_at = expires_at;
            updated.last_seen = updated.last_seen.max(last_seen);
            Ok(Ok(updated))
        })
        .await
    }

    /// Replaces the binding of the live login under `id` with `binding`, of
    /// the same user; `false`, with nothing written, for any other session.
    /// The user's index entry stays, as the user does.
    pub(crate) async fn rebind(
        self: &Arc<Self>,
        id: SessionId,
        binding: Binding,
    ) -> Result<bool, StoreError> {
        // Held to the limit only when it grows: a record stored under a
        // larger limit must still be able to lose permissions.
        let outcome = self
            .modify(id, SizeCheck::WhenGrown, move |current| {
                let same_user = current.user_id() == Some(binding.user_id.as_str());
                if !same_user || current.is_moved_marker() {
                    return Ok(Err(SaveOutcome::Missing));
                }
                if current.binding.as_deref() == Some(&binding) {
                    // Already so: no commit, no flush.
                    return Ok(Err(SaveOutcome::Saved));
                }
                let mut updated = current.clone();
                updated.binding = Some(Box::new(binding.clone()));
                Ok(Ok(updated))
            })
            .await?;
        Ok(outcome == SaveOutcome::Saved)
    }

    pub(crate) async fn delete(self: &Arc<Self>, id: SessionId) -> Result<bool, StoreError> {
        self.write_grouped(move |t, now| {
            let key = id.as_bytes();
            match t.get(key, now)? {
                Slot::Empty => Ok(false),
                Slot::Live(record) => t.remove(key, Some(&record)).map(|()| true),
                Slot::Expired(record) => t.remove(key, Some(&record)).map(|()| false),
                Slot::Corrupt(error) => {
                    log_corrupt(key, &error);
                    t.remove(key, None).map(|()| true)
                }
            }
        })
        .await
    }

    pub(crate) fn list_for_user(&self, user: &str) -> Result<Vec<SessionInfo>, StoreError> {
        let now = self.now();
        let (mut items, stale) = self.read(|t| {
            let mut items = Vec::new();
            let mut stale = Vec::new();
            for id in t.user_ids(user)? {
                match t.get(&id, now)? {
                    Slot::Live(r) if r.user_id() == Some(user) => items.push(r.info()),
                    Slot::Expired(r) if r.user_id() == Some(user) => {}
                    Slot::Corrupt(error) => log_corrupt(&id, &error),
                    Slot::Empty | Slot::Live(_) | Slot::Expired(_) => stale.push(id),
                }
            }
            Ok((items, stale))
        })?;
        if !stale.is_empty()
            && let Err(error) = self.forget_stale_user_entries(user, &stale)
        {
            tracing::debug!(%error, "could not remove stale user-index entries");
        }
        sort_most_recent_first(&mut items);
        Ok(items)
    }

    /// Removes user-index entries that, checked again inside the write
    /// transaction, name no record of `user`.
    fn forget_stale_user_entries(&self, user: &str, ids: &[IdBytes]) -> Result<(), StoreError> {
        self.write(|t, now| {
            for id in ids {
                match t.get(id, now)? {
                    Slot::Live(r) | Slot::Expired(r) if r.user_id() == Some(user) => {}
                    Slot::Corrupt(_) => {}
                    _ => t.remove_user_entry(user, id)?,
                }
            }
            Ok(())
        })
    }

    pub(crate) fn delete_for_user(
        &self,
        user: &str,
        keep: Option<&SessionId>,
    ) -> Result<usize, StoreError> {
        let keep = keep.map(SessionId::as_bytes);
        self.write(|t, now| {
            let mut deleted = 0;
            for id in t.user_ids(user)? {
                if keep == Some(&id) {
                    continue;
                }
                match t.get(&id, now)? {
                    Slot::Live(r) if r.user_id() == Some(user) => {
                        t.remove(&id, Some(&r))?;
                        deleted += 1;
                    }
                    Slot::Expired(r) if r.user_id() == Some(user) => t.remove(&id, Some(&r))?,
                    Slot::Corrupt(error) => {
                        // The index says it is this user's: revoking all must not leave it.
                        log_corrupt(&id, &error);
                        t.remove(&id, None)?;
                        t.remove_user_entry(user, &id)?;
                    }
                    Slot::Empty | Slot::Live(_) | Slot::Expired(_) => {
                        t.remove_user_entry(user, &id)?;
                    }
                }
            }
            Ok(deleted)
        })
    }

    pub(crate) fn list(&self, page: &PageRequest) -> Result<Page<SessionInfo>, StoreError> {
        let now = self.now();
        let after: Option<IdBytes> = match page.cursor.as_deref() {
            None => None,
            Some(cursor) => Some(
                *cursor
                    .parse::<SessionId>()
                    .map_err(|_| StoreError::InvalidCursor(cursor.to_owned()))?
                    .as_bytes(),
            ),
        };
        let limit = page.limit.clamp(1, MAX_PAGE);
        self.read(|t| {
            let range = match &after {
                Some(after) => t
                    .sessions
                    .range::<&IdBytes>((Bound::Excluded(after), Bound::Unbounded)),
                None => t.sessions.iter(),
            }
            .map_err(db_error)?;
            let mut items: Vec<SessionInfo> = Vec::new();
            let mut more = false;
            for entry in range {
                let (key, value) = entry.map_err(db_error)?;
                let id = *key.value();
                match decode(&id, value.value()) {
                    Ok(record) if record.is_expired(now) => {}
                    Ok(record) => {
                        if items.len() == limit {
                            more = true;
                            break;
                        }
                        items.push(record.info());
                    }
                    Err(error) => log_corrupt(&id, &error),
                }
            }
            let next = if more {
                items.last().map(|i| i.id.to_string())
            } else {
                None
            };
            Ok(Page { items, next })
        })
    }

    /// Deletes up to `max` expired records found through the expiry index, in
    /// one transaction. Entries that no longer match their record are dropped.
    pub(crate) fn sweep_batch(&self, max: usize) -> Result<SweepReport, StoreError> {
        self.write(|t, now| {
            let entries = t.expired_entries(now, max)?;
            let mut report = SweepReport {
                removed: 0,
                examined: entries.len(),
            };
            for (at, id) in entries {
                t.remove_expiry_entry(at, &id)?;
                match t.get(&id, now)? {
                    Slot::Expired(r) if r.expires_at.as_millis() == at => {
                        t.remove(&id, Some(&r))?;
                        report.removed += 1;
                    }
                    Slot::Corrupt(error) => {
                        // Indexed as expired and unreadable: nothing can load it any more.
                        log_corrupt(&id, &error);
                        t.remove(&id, None)?;
                        report.removed += 1;
                    }
                    // A stale entry: the record is gone or has moved its expiry.
                    Slot::Empty | Slot::Live(_) | Slot::Expired(_) => {}
                }
            }
            Ok(report)
        })
    }

    /// Sweeps batch after batch until no expired entry is left or `stop` says so.
    pub(crate) fn sweep_all(&self, stop: impl Fn() -> bool) -> Result<SweepReport, StoreError> {
        let mut total = SweepReport::default();
        loop {
            let batch = self.sweep_batch(SWEEP_BATCH)?;
            total.add(batch);
            if batch.examined < SWEEP_BATCH || stop() {
                return Ok(total);
            }
        }
    }

    pub(crate) fn stats(&self) -> Result<StoreStats, StoreError> {
        self.read(|t| {
            Ok(StoreStats {
                records: t.sessions.len().map_err(db_error)?,
                expiry_entries: t.expiry.len().map_err(db_error)?,
                user_entries: t.users.len().map_err(db_error)?,
            })
        })
    }

    pub(crate) fn repair_indexes(&self) -> Result<RepairReport, StoreError> {
        self.write(|t, _| t.rebuild_indexes())
    }

    pub(crate) fn check(&self) -> Result<CheckReport, StoreError> {
        let now = self.now();
        self.read(|t| {
            let mut report = CheckReport::default();
            for entry in t.sessions.iter().map_err(db_error)? {
                let (key, value) = entry.map_err(db_error)?;
                let id = *key.value();
                report.records += 1;
                let record = match decode(&id, value.value()) {
                    Ok(record) => record,
                    Err(_) => {
                        report.corrupt += 1;
                        continue;
                    }
                };
                if record.is_expired(now) {
                    report.expired += 1;
                } else {
                    report.live += 1;
                }
                if t.expiry
                    .get((record.expires_at.as_millis(), &id))
                    .map_err(db_error)?
                    .is_none()
                {
                    report.missing_index_entries += 1;
                }
                if let Some(user) = record.user_id()
                    && t.users.get((user, &id)).map_err(db_error)?.is_none()
                {
                    report.missing_index_entries += 1;
                }
            }
            for entry in t.expiry.iter().map_err(db_error)? {
                let (key, _) = entry.map_err(db_error)?;
                let (at, id) = key.value();
                match t.get(id, now)? {
                    Slot::Live(r) | Slot::Expired(r) if r.expires_at.as_millis() == at => {}
                    Slot::Corrupt(_) => {}
                    _ => report.stale_index_entries += 1,
                }
            }
            for entry in t.users.iter().map_err(db_error)? {
                let (key, _) = entry.map_err(db_error)?;
                let (user, id) = key.value();
                match t.get(id, now)? {
                    Slot::Live(r) | Slot::Expired(r) if r.user_id() == Some(user) => {}
                    Slot::Corrupt(_) => {}
                    _ => report.stale_index_entries += 1,
                }
            }
            Ok(report)
        })
    }
}

/// `TooLarge` when an encoding of `size` bytes is over `limit`.
fn within_limit(size: usize, limit: usize) -> Result<(), StoreError> {
    if size > limit {
        return Err(StoreError::TooLarge { size, limit });
    }
    Ok(())
}
