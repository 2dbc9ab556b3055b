//! [`MemoryStore`]: a sharded in-process store, the embedded default.

mod entry;
mod hasher;
mod shard;
mod sweeper;
mod users;

pub use sweeper::Sweeper;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use async_trait::async_trait;
use parking_lot::Mutex;

use self::entry::Entry;
use self::shard::Shard;
use self::users::UserIndex;
use crate::clock::{SharedClock, SystemClock};
use crate::record::sort_most_recent_first;
use crate::store::{Capabilities, SessionStore, StoreError};
use crate::{
    Binding, Page, PageRequest, SaveOutcome, SessionId, SessionInfo, SessionPatch, SessionRecord,
    Timestamp,
};

/// Fewest and most shards a store is split into.
const MIN_SHARDS: usize = 256;
const MAX_SHARDS: usize = 1024;

/// Largest record accepted by default, in bytes as
/// [`SessionRecord::byte_size`] counts them (data, flash and binding).
pub const DEFAULT_MAX_RECORD_BYTES: usize = 1 << 20;

/// Sessions in process memory: fast, lost on restart, one process only.
///
/// The map is split into shards, each behind its own short-held lock, so
/// concurrent requests rarely wait on each other. Expired records are removed
/// when touched, by a small sweep step on every write once a record of its
/// shard may have expired (so memory stays bounded by live sessions plus
/// recent garbage, and writes read no other record while none can have), and
/// optionally by a [`Sweeper`] thread. Per-user listing reads a per-user
/// index: its cost grows with that user's sessions only.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use session_core::{MemoryStore, SessionId, SessionRecord, SessionStore, Timestamp};
///
/// let store = MemoryStore::new();
/// let now = Timestamp::from(std::time::SystemTime::now());
/// let record = SessionRecord::new(SessionId::generate(), now, now.plus(std::time::Duration::from_secs(60)));
/// store.create(&record).await.unwrap();
/// assert_eq!(store.load(&record.id).await.unwrap(), Some(record));
/// # });
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

struct Inner {
    shards: Box<[Mutex<Shard>]>,
    users: UserIndex,
    clock: SharedClock,
    max_record_bytes: usize,
    // Entries held by all shards, kept by the shards.
    held: Arc<AtomicUsize>,
    // `with_max_sessions`; `usize::MAX` for none.
    max_sessions: AtomicUsize,
    // When a full store was last swept whole, in ms; `NEVER_SWEPT` before.
    full_swept_at: AtomicU64,
}

/// `full_swept_at` before the first sweep of a full store.
const NEVER_SWEPT: u64 = u64::MAX;

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// A store on the system clock.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    /// A store on `clock` (share it with the service so expiry decisions agree).
    pub fn with_clock(clock: SharedClock) -> Self {
        Self::with_limit(clock, DEFAULT_MAX_RECORD_BYTES)
    }

    /// A store on `clock` refusing records larger than `max_record_bytes`
    /// (data, flash and binding, as [`SessionRecord::byte_size`] counts
    /// them) with [`StoreError::TooLarge`].
    pub fn with_limit(clock: SharedClock, max_record_bytes: usize) -> Self {
        // At least 256 shards, also on small machines: a shard that outgrows
        // its table moves it and faults in fresh pages while its lock is
        // held and the thread stalls, for time in proportion to its size.
        // Smaller shards keep that stall under about 0.2 ms where 16 shards
        // of a quarter million sessions stalled for over half a millisecond
        // each.
        let shards = std::thread::available_parallelism()
            .map_or(4, |n| n.get())
            .saturating_mul(8)
            .next_power_of_two()
            .clamp(MIN_SHARDS, MAX_SHARDS);
        let held = Arc::new(AtomicUsize::new(0));
        Self {
            inner: Arc::new(Inner {
                shards: (0..shards)
                    .map(|_| Mutex::new(Shard::new(Arc::clone(&held))))
                    .collect(),
                users: UserIndex::new(shards),
                clock,
                max_record_bytes,
                held,
                max_sessions: AtomicUsize::new(usize::MAX),
                full_swept_at: AtomicU64::new(NEVER_SWEPT),
            }),
        }
    }

    /// Caps the records held at `max`: while it holds `max` or more (live,
    /// or expired and not swept yet; logins and markers count too),
    /// creating an anonymous session (no login) fails with
    /// [`StoreError::Unavailable`] (a 503 in the web layer), so a flood of
    /// cookieless requests that write cannot exhaust the process's memory.
    /// Logged-in sessions, and the markers a login leaves, are always
    /// taken, past the cap too: a login is never refused for a flood of
    /// anonymous sessions, and their number is bounded by logins. When the
    /// store is full, expired records are swept from every shard before a
    /// refusal, at most once a second (a pass over the store, each shard
    /// locked in turn). Creates running at the same time may each pass the
    /// last free place, so the cap can be exceeded by a few. It bounds the
    /// number of sessions, not their size (see
    /// [`with_limit`](Self::with_limit)). The cap is the store's, shared by
    /// its clones. No cap by default.
    ///
    /// ```
    /// let store = session_core::MemoryStore::new().with_max_sessions(1_000_000);
    /// ```
    pub fn with_max_sessions(self, max: usize) -> Self {
        self.inner.max_sessions.store(max, Ordering::Relaxed);
        self
    }

    /// Whether creating `record` is held to the cap and the store is full.
    fn full_for(&self, record: &SessionRecord) -> bool {
        let max = self.inner.max_sessions.load(Ordering::Relaxed);
        max != usize::MAX
            && record.binding.is_none()
            && !record.is_moved_marker()
            && self.inner.held.load(Ordering::Relaxed) >= max
    }

    /// Sweeps every shard's expired records, unless a sweep for a full
    /// store ran less than a second ago (a flood of refused creates must
    /// not pass over the whole store each).
    fn sweep_when_full(&self, now: Timestamp) {
        let now = now.as_millis();
        let last = self.inner.full_swept_at.load(Ordering::Relaxed);
        // A second either way: a clock stepped back must not hold the sweep
        // off until it is past the last one again.
        if (last != NEVER_SWEPT && now.abs_diff(last) < 1000)
            || self
                .inner
                .full_swept_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let removed = self.sweep_expired();
        tracing::debug!(removed, "swept a full memory store");
    }

    fn refuse_full(&self) -> StoreError {
        let max = self.inner.max_sessions.load(Ordering::Relaxed);
        // The caller logs the error (the web layer at warn).
        tracing::debug!(
            max,
            "memory store is full; a new anonymous session is refused"
        );
        StoreError::unavailable(format!(
            "the memory store holds its maximum of {max} sessions"
        ))
    }

    fn shard(&self, id: &SessionId) -> &Mutex<Shard> {
        let b = id.as_bytes();
        let word = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
        // Shard count is a power of two.
        let index = usize::try_from(word >> 32).unwrap_or(0) & (self.inner.shards.len() - 1);
        &self.inner.shards[index]
    }

    fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    fn check_size(&self, operation: &'static str, size: usize) -> Result<(), StoreError> {
        if size > self.inner.max_record_bytes {
            tracing::debug!(
                operation,
                size,
                limit = self.inner.max_record_bytes,
                "memory store refused a record over its size limit"
            );
            return Err(StoreError::TooLarge {
                size,
                limit: self.inner.max_record_bytes,
            });
        }
        Ok(())
    }

    /// Number of records held, live or expired but not yet swept.
    pub fn len(&self) -> usize {
        self.inner.held.load(Ordering::Relaxed)
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes every expired record now; returns how many were removed.
    pub fn sweep_expired(&self) -> usize {
        let now = self.now();
        let mut removed = 0;
        for shard in self.inner.shards.iter() {
            let mut shard = shard.lock();
            let gone = shard.remove_expired(now);
            removed += gone.len();
            self.inner.users.forget_all(&gone);
        }
        removed
    }

    /// Starts a thread that calls [`sweep_expired`](Self::sweep_expired) every
    /// `interval` (at least 1 ms); it stops when the returned handle is
    /// dropped or stopped, or once every handle of this store is gone.
    pub fn start_sweeper(&self, interval: std::time::Duration) -> Sweeper {
        Sweeper::start(Arc::downgrade(&self.inner), interval)
    }

    /// Sweeps a few entries of `shard`, whose lock the caller holds (the
    /// user index changes under it, see [`UserIndex`]).
    fn write_step(&self, shard: &mut Shard, now: Timestamp) {
        let gone = shard.sweep_step(now);
        if !gone.is_empty() {
            self.inner.users.forget_all(&gone);
        }
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("shards", &self.inner.shards.len())
            .field("max_record_bytes", &self.inner.max_record_bytes)
            .field(
                "max_sessions",
                &self.inner.max_sessions.load(Ordering::Relaxed),
            )
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            max_record_bytes: Some(self.inner.max_record_bytes),
            ..Capabilities::ALL
        }
    }

    async fn create(&self, record: &SessionRecord) -> Result<(), StoreError> {
        // The binding counts too: a login's label and meta come from clients.
        self.check_size("create", record.byte_size())?;
        let now = self.now();
        let entry = Entry::from_record(record);
        if self.full_for(record) {
            // Before this shard's lock: the sweep takes each in turn.
            self.sweep_when_full(now);
        }
        let mut shard = self.shard(&record.id).lock();
        self.write_step(&mut shard, now);
        if self.full_for(record) {
            return Err(self.refuse_full());
        }
        if let Some(old) = shard.insert_new(record.id, entry, now)? {
            self.inner.users.forget(&old);
        }
        if let Some(user) = record.user_id() {
            self.inner.users.add(user, record.id);
        }
        Ok(())
    }

    async fn load(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        self.load_at(id, self.now()).await
    }

    async fn load_at(
        &self,
        id: &SessionId,
        now: Timestamp,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let mut shard = self.shard(id).lock();
        match shard.get_live(id, now) {
            Ok(entry) => Ok(Some(entry.to_record(*id))),
            Err(expired) => {
                if let Some(gone) = expired {
                    self.inner.users.forget(&gone);
                }
                Ok(None)
            }
        }
    }

    async fn save(&self, id: &SessionId, patch: &SessionPatch) -> Result<SaveOutcome, StoreError> {
        let now = self.now();
        let mut shard = self.shard(id).lock();
        self.write_step(&mut shard, now);
        let saved = shard.update_live(id, now, |entry| {
            if let Some(expected) = patch.expected_revision
                && entry.revision != expected
            {
                return Ok(SaveOutcome::Conflict {
                    current: entry.revision,
                });
            }
            let patched = entry.measure(patch);
            // A save never changes the binding, but it is part of the record.
            self.check_size("save", patched.size().saturating_add(entry.binding_size()))?;
            entry.apply(patch, &patched);
            Ok(SaveOutcome::Saved)
        });
        saved.unwrap_or_else(|expired| {
            if let Some(gone) = expired {
                self.inner.users.forget(&gone);
            }
            Ok(SaveOutcome::Missing)
        })
    }

    async fn touch(
        &self,
        id: &SessionId,
        expires_at: Timestamp,
        last_seen: Timestamp,
        // The index is not ordered by expiry: nothing to move.
        _user_id: Option<&str>,
    ) -> Result<SaveOutcome, StoreError> {
        let now = self.now();
        let mut shard = self.shard(id).lock();
        self.write_step(&mut shard, now);
        let touched = shard.update_live(id, now, |entry| {
            entry.expires_at = expires_at;
            entry.last_seen = entry.last_seen.max(last_seen);
        });
        match touched {
            Ok(()) => Ok(SaveOutcome::Saved),
            Err(expired) => {
                if let Some(gone) = expired {
                    self.inner.users.forget(&gone);
                }
                Ok(SaveOutcome::Missing)
            }
        }
    }

    async fn rebind(&self, id: &SessionId, binding: &Binding) -> Result<bool, StoreError> {
        let now = self.now();
        let mut shard = self.shard(id).lock();
        self.write_step(&mut shard, now);
        let rebound = shard.update_live(id, now, |entry| {
            let same_user = entry.user_id() == Some(binding.user_id.as_str());
            if !same_user || entry.created_at == entry.expires_at {
                return Ok(false);
            }
            let data = entry.measure(&SessionPatch::default()).size();
            self.check_size("rebind", data.saturating_add(binding.byte_size()))?;
            entry.binding = Some(Box::new(binding.clone()));
            Ok(true)
        });
        rebound.unwrap_or_else(|expired| {
            if let Some(gone) = expired {
                self.inner.users.forget(&gone);
            }
            Ok(false)
        })
    }

    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        let now = self.now();
        let mut shard = self.shard(id).lock();
        Ok(match shard.remove(id) {
            Some(gone) => {
                self.inner.users.forget(&gone);
                !gone.1.is_expired(now)
            }
            None => false,
        })
    }

    async fn list_for_user(&self, user_id: &str) -> Result<Vec<SessionInfo>, StoreError> {
        let now = self.now();
        let mut items = Vec::new();
        for id in self.inner.users.ids(user_id) {
            let shard = self.shard(&id).lock();
            match shard.peek(&id) {
                Some(e) if !e.is_expired(now) && e.user_id() == Some(user_id) => {
                    items.push(e.info(id))
                }
                // Dropped while the record is checked: once the lock is
                // released, the id may be created again and indexed anew.
                _ => self.inner.users.remove_ids(user_id, &[id]),
            }
        }
        sort_most_recent_first(&mut items);
        Ok(items)
    }

    async fn delete_for_user(
        &self,
        user_id: &str,
        keep: Option<&SessionId>,
    ) -> Result<usize, StoreError> {
        let now = self.now();
        let mut deleted = 0;
        for id in self.inner.users.ids(user_id) {
            if Some(&id) == keep {
                continue;
            }
            let mut shard = self.shard(&id).lock();
            if shard
                .peek(&id)
                .is_some_and(|r| r.user_id() == Some(user_id))
                && let Some(record) = shard.remove(&id)
            {
                deleted += usize::from(!record.1.is_expired(now));
            }
            // Under the lock, as in `list_for_user`.
            self.inner.users.remove_ids(user_id, &[id]);
        }
        Ok(deleted)
    }

    async fn list(&self, page: PageRequest) -> Result<Page<SessionInfo>, StoreError> {
        let now = self.now();
        let after: Option<SessionId> = match page.cursor.as_deref() {
            None => None,
            Some(c) => Some(
                c.parse()
                    .map_err(|_| StoreError::InvalidCursor(c.to_owned()))?,
            ),
        };
        let limit = page.limit.max(1);
        // Ordered by id so pages are stable while sessions come and go.
        let mut items: Vec<SessionInfo> = Vec::new();
        for shard in self.inner.shards.iter() {
            let shard = shard.lock();
            items.extend(
                shard
                    .live(now)
                    .filter(|(id, _)| after.is_none_or(|a| **id > a))
                    .map(|(id, e)| e.info(*id)),
            );
        }
        items.sort_by_key(|a| a.id);
        let next = (items.len() > limit).then(|| items[limit - 1].id.to_string());
        items.truncate(limit);
        Ok(Page { items, next })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{Binding, Clock as _, MockClock};

    const MIN: Duration = Duration::from_secs(60);

    fn record(clock: &MockClock, lifetime: Duration, user: Option<&str>) -> SessionRecord {
        let now = clock.now();
        let mut r = SessionRecord::new(SessionId::generate(), now, now.plus(lifetime));
        r.binding = user.map(|u| Box::new(Binding::user(u)));
        r
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    /// Anonymous creates until `n` were refused; how many were taken.
    async fn fill(store: &MemoryStore, clock: &MockClock, refusals: usize) -> usize {
        let (mut taken, mut refused) = (0, 0);
        while refused < refusals {
            match store.create(&record(clock, MIN, None)).await {
                Ok(()) => taken += 1,
                Err(StoreError::Unavailable(_)) => refused += 1,
                Err(other) => panic!("{other:?}"),
            }
            assert!(taken <= 100_000, "the cap never refused");
        }
        taken
    }

    #[test]
    fn a_capped_store_refuses_anonymous_sessions_at_its_cap_and_still_takes_logins() {
        let clock = MockClock::starting_now();
        let store = MemoryStore::with_clock(Arc::new(clock.clone())).with_max_sessions(10);
        block_on(async {
            assert_eq!(fill(&store, &clock, 5).await, 10);
            assert_eq!(store.len(), 10);
            // Full: a login, and a moved session's marker, still go in.
            let login = record(&clock, MIN, Some("u"));
            store.create(&login).await.unwrap();
            let now = clock.now();
            let marker =
                SessionRecord::moved_marker(SessionId::generate(), None, now, now.plus(MIN));
            store.create(&marker).await.unwrap();
            assert!(store.load(&login.id).await.unwrap().is_some());
            assert_eq!(store.len(), 12);
            // A logout makes room for one.
            assert!(store.delete(&login.id).await.unwrap());
            assert!(store.delete(&marker.id).await.unwrap());
            let one = store.list(PageRequest::first(1)).await.unwrap().items[0].id;
            assert!(store.delete(&one).await.unwrap());
            assert_eq!(fill(&store, &clock, 1).await, 1);
        });
    }

    #[test]
    fn expired_sessions_anywhere_in_the_store_make_room_in_a_capped_store() {
        let clock = MockClock::starting_now();
        let store = MemoryStore::with_clock(Arc::new(clock.clone())).with_max_sessions(5);
        block_on(async {
            assert_eq!(fill(&store, &clock, 3).await, 5);
            clock.advance(2 * MIN);
            assert_eq!(
                fill(&store, &clock, 3).await,
                5,
                "the expired ones made room"
            );
            assert_eq!(store.len(), 5, "and were removed");
        });
    }

    /// Deletes every record `list` shows.
    async fn clear(store: &MemoryStore) {
        let page = store.list(PageRequest::first(1_000)).await.unwrap();
        for info in page.items {
            store.delete(&info.id).await.unwrap();
        }
    }

    /// A clock stepped back (a system clock corrected) does not hold off
    /// the sweep of a full store until it is back at the last sweep's time.
    #[test]
    fn a_full_store_is_swept_after_its_clock_was_stepped_back() {
        let clock = MockClock::starting_now();
        let store = MemoryStore::with_clock(Arc::new(clock.clone())).with_max_sessions(5);
        block_on(async {
            // Full, and swept for the refusal.
            assert_eq!(fill(&store, &clock, 1).await, 5);
            clear(&store).await;
            // An hour back, the store fills again and its sessions expire.
            let back = clock.now().as_millis() - 3_600_000;
            clock.set(Timestamp::from_millis(back));
            assert_eq!(fill(&store, &clock, 1).await, 5);
            clock.advance(2 * MIN);
            assert_eq!(
                fill(&store, &clock, 1).await,
                5,
                "the expired ones made room"
            );
        });
    }

    /// A store whose clock starts at the epoch sweeps when full within
    /// its first second too.
    #[test]
    fn a_full_store_is_swept_in_the_first_second_of_its_clock() {
        let clock = MockClock::new(Timestamp::EPOCH);
        let store = MemoryStore::with_clock(Arc::new(clock.clone())).with_max_sessions(5);
        block_on(async {
            for _ in 0..5 {
                let r = record(&clock, Duration::from_millis(100), None);
                store.create(&r).await.unwrap();
            }
            clock.advance(Duration::from_millis(200));
            assert_eq!(
                fill(&store, &clock, 1).await,
                5,
                "the expired ones made room"
            );
        });
    }

    /// The count of records held, which the cap reads, stays the sum of
    /// the shards through creates, saves, deletes, expiry on read and on
    /// write, and sweeps.
    #[test]
    fn the_count_of_records_held_follows_every_insert_and_removal() {
        let clock = MockClock::starting_now();
        let store = MemoryStore::with_clock(Arc::new(clock.clone()));
        let summed = |s: &MemoryStore| s.inner.shards.iter().map(|x| x.lock().len()).sum::<usize>();
        block_on(async {
            let mut ids = Vec::new();
            for i in 0..2000u64 {
                let r = record(
                    &clock,
                    MIN * (1 + (i % 3) as u32),
                    (i % 4 == 0).then_some("u"),
                );
                ids.push(r.id);
                store.create(&r).await.unwrap();
                if i % 5 == 0 {
                    store.delete(&ids[(i / 2) as usize]).await.unwrap();
                }
                if i % 7 == 0 {
                    let mut p = SessionPatch {
                        last_seen: clock.now(),
                        ..SessionPatch::default()
                    };
                    p.set_fields.insert("n", "1");
                    store.save(&ids[(i / 3) as usize], &p).await.unwrap();
                }
                if i % 400 == 0 {
                    clock.advance(MIN);
                    store.load(&ids[(i / 4) as usize]).await.unwrap();
                }
                assert_eq!(store.len(), summed(&store));
            }
            store.delete_for_user("u", None).await.unwrap();
            assert_eq!(store.len(), summed(&store));
            clock.advance(10 * MIN);
            store.sweep_expired();
            assert_eq!((store.len(), summed(&store)), (0, 0));
        });
    }

    #[test]
    fn sweep_removes_expired_records_and_their_index_entries_only() {
        let clock = MockClock::starting_now();
        let store = MemoryStore::with_clock(Arc::new(clock.clone()));
        block_on(async {
            for i in 0..50 {
                let lifetime = if i % 2 == 0 { MIN } else { 10 * MIN };
                store
                    .create(&record(&clock, lifetime, Some("u")))
                    .await
                    .unwrap();
            }
            clock.advance(2 * MIN);
            assert_eq!(store.sweep_expired(), 25);
            assert_eq!(store.len(), 25);
            assert_eq!(store.inner.users.ids("u").len(), 25);
            assert_eq!(store.sweep_expired(), 0);
        });
    }

    #[test]
    fn writes_sweep_expired_records_without_a_background_task() {
        let clock = MockClock::starting_now();
        let store = MemoryStore::with_clock(Arc::new(clock.clone()));
        block_on(async {
            for _ in 0..2_000 {
                store.create(&record(&clock, MIN, None)).await.unwrap();
            }
            clock.advance(2 * MIN);
            // Each write examines a couple of entries of its shard: after as many
            // writes as there are dead records, most of them are gone.
            for _ in 0..2_000 {
                store.create(&record(&clock, 10 * MIN, None)).await.unwrap();
            }
            let held = store.len();
            assert!(
                held < 2_000 + 600,
                "memory not reclaimed: {held} records held"
            );
        });
    }

    #[test]
    fn the_sweeper_thread_sweeps_and_stops() {
        let clock = MockClock::starting_now();
        let store = MemoryStore::with_clock(Arc::new(clock.clone()));
        block_on(async {
            for _ in 0..10 {
                store.create(&record(&clock, MIN, None)).await.unwrap();
            }
        });
        clock.advance(2 * MIN);
        let sweeper = store.start_sweeper(Duration::from_millis(5));
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !store.is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(store.is_empty());
        sweeper.stop();
    }

    #[test]
    fn a_sweeper_does_not_keep_its_store_and_ends_with_it() {
        let store = MemoryStore::new();
        let idle = store.start_sweeper(Duration::from_secs(3600));
        assert_eq!(Arc::strong_count(&store.inner), 1, "no strong handle held");
        idle.stop();
        // A zero interval is raised to 1 ms, and the thread ends once the
        // store is gone, without being stopped.
        let sweeper = store.start_sweeper(Duration::ZERO);
        drop(store);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !sweeper.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(sweeper.is_finished());
    }

    /// An expired session of `user`, and a live one of `user` in another
    /// shard that a walk of the user's index reaches after the expired one.
    async fn expired_then_live(
        store: &MemoryStore,
        clock: &MockClock,
        user: &str,
    ) -> (SessionRecord, SessionRecord) {
        loop {
            // A pair at a time: the index's order follows both ids.
            let expired = record(clock, MIN, Some(user));
            let live = record(clock, 10 * MIN, Some(user));
            if std::ptr::eq(store.shard(&live.id), store.shard(&expired.id)) {
                continue;
            }
            store.create(&expired).await.unwrap();
            store.create(&live).await.unwrap();
            if store.inner.users.ids(user) == [expired.id, live.id] {
                clock.advance(2 * MIN);
                return (expired, live);
            }
            store.delete(&expired.id).await.unwrap();
            store.delete(&live.id).await.unwrap();
        }
    }

    #[test]
    fn a_walk_of_the_user_index_keeps_a_session_created_again_meanwhile() {
        // A listing or a revocation finds the expired record, then waits
        // for the other record's shard; meanwhile the id is created again.
        // The walk must not drop the new session's index entry: it would
        // load, but never be listed nor reached by revoke-all again.
        for revoke in [false, true] {
            let clock = MockClock::starting_now();
            let store = MemoryStore::with_clock(Arc::new(clock.clone()));
            let (expired, live) = block_on(expired_then_live(&store, &clock, "u"));
            let held = store.shard(&live.id).lock();
            let walk = std::thread::spawn({
                let store = store.clone();
                move || {
                    block_on(async {
                        if revoke {
                            store.delete_for_user("u", None).await.map(drop)
                        } else {
                            store.list_for_user("u").await.map(drop)
                        }
                    })
                }
            });
            // Time for the walk to pass the expired record and stop at the
            // held shard (the test cannot fail for a walk that is slower).
            std::thread::sleep(Duration::from_millis(100));
            let mut again = record(&clock, 10 * MIN, Some("u"));
            again.id = expired.id;
            block_on(store.create(&again)).unwrap();
            drop(held);
            walk.join().expect("walk").unwrap();
            let listed: Vec<SessionId> = block_on(store.list_for_user("u"))
                .unwrap()
                .into_iter()
                .map(|i| i.id)
                .collect();
            assert!(
                listed.contains(&again.id),
                "revoke {revoke}: the session created again is not listed: {listed:?}"
            );
            assert_eq!(
                block_on(store.delete_for_user("u", None)).unwrap(),
                listed.len()
            );
            assert_eq!(block_on(store.load(&again.id)).unwrap(), None);
        }
    }

    #[test]
    fn oversized_records_are_refused_with_their_size() {
        let clock = MockClock::starting_now();
        let store = MemoryStore::with_limit(Arc::new(clock.clone()), 100);
        let mut r = record(&clock, MIN, None);
        r.fields.insert("big", format!("\"{}\"", "x".repeat(200)));
        match block_on(store.create(&r)) {
            Err(StoreError::TooLarge { size, limit: 100 }) => assert!(size > 200),
            other => panic!("{other:?}"),
        }
    }
}
