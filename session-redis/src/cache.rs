//! The optional local cache: sessions kept in the app's memory, so a
//! read-only request costs no round trip and a changed one costs one (the
//! write).
//!
//! Coherence comes from Redis itself: the connection turns on
//! `CLIENT TRACKING ON BCAST PREFIX <session keys>`, so every change to a
//! session key (by another app server, an admin, an expiry, or this store)
//! arrives as an invalidation on the same connection, in order with the
//! replies.
//!
//! Redis merges the invalidations of one event loop iteration into one
//! message (one per key), so the echo of this store's own write cannot be
//! told from another client's change made in the same instant by the
//! session key alone, and `NOLOOP` does not cover script writes on Redis
//! 7.0. So the save, rebind and delete scripts of a store with a cache also
//! set and delete a marker key naming this store
//! (`<prefix>s:{<id>}:w:<writer>`, never stored): an invalidation of a
//! session key is this store's own echo when it comes with this store's
//! marker of that session and no other store's.
//! Every other invalidation (another store's marker, or none: a change made
//! by hand, an expiry, an eviction) drops the copy. One change the markers
//! cannot reveal: a change made outside any cached store (by hand, or by a
//! store without the cache) in the same instant as this store's save of the
//! same session; the copy then misses it until its maximum age.
//!
//! Replies and invalidations are handled by different tasks, so a load's
//! reply can be seen after an invalidation that Redis sent later. Each
//! stripe of the cache counts the changes from elsewhere to its sessions
//! (its generation): a load takes a [`Ticket`] before it is sent, and its
//! result enters the cache only if the stripe's generation is still the
//! ticket's.
//!
//! This store's own saves are ordered by the revision their script reports
//! (every data change bumps it): a save is applied to the copy when the copy
//! is at the revision before it, kept aside when it completed ahead of an
//! earlier one, and skipped when the copy already holds it (loaded after
//! it). A load older than a completed save is refused, and the copy is not
//! served while a save is kept aside: a lookup then gives the runtime a few
//! turns for the earlier save's task to apply it (its reply has arrived, as
//! the one connection answers in order) before it loads from Redis. After
//! each step the copy's metadata
//! must equal what Redis reported, or the copy is dropped. Creates, deletes
//! and rebinds (which change no revision to order them by) drop the copy.
//!
//! A lost connection drops everything (invalidations may have been missed),
//! and so does a connection replaced because it went silent (see
//! [`connection`](crate::connection)); a copy older than the configured
//! maximum age is not used, which bounds how stale a copy can be if the
//! connection stops delivering without failing. A database swap
//! (`SWAPDB`) replaces every key at once as a flush does but, unlike a
//! flush, sends no invalidation: copies may be served until their maximum
//! age.

use std::borrow::Borrow;
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use redis::{PushInfo, PushKind, Value};
use session_core::{SessionId, SessionPatch, SessionRecord, Timestamp};

use crate::codec::Meta;
use crate::keys::Keys;

/// Most stripes: a load's result is refused when another change hit its
/// stripe while it was in flight, so more stripes mean fewer needless misses.
const MAX_STRIPES: usize = 1024;

/// Sessions per stripe a small cache aims at (fewer stripes, so the total
/// stays near the capacity asked for).
const MIN_PER_STRIPE: usize = 8;

/// Records larger than this (data, flash and binding, in bytes as
/// [`SessionRecord::byte_size`] counts them) are not cached: they are rare
/// and would crowd out many small ones.
pub(crate) const MAX_CACHED_RECORD_BYTES: usize = 16 * 1024;

/// Saves of one session that completed ahead of an earlier one, kept until
/// it completes; past this many the copy is dropped instead.
const MAX_AHEAD: usize = 64;

/// How often a lookup that finds the copy behind a save kept aside lets
/// other tasks run before it gives up and loads from Redis.
const SETTLE_YIELDS: usize = 3;

/// Sessions kept in memory, coherent with Redis by invalidation.
pub(crate) struct LocalCache {
    stripes: Box<[Mutex<Stripe>]>,
    per_stripe: usize,
    max_age: Duration,
    /// This store's name in marker keys: random, so two stores (two app
    /// servers, or two stores in one process) never share it.
    writer: String,
}

#[derive(Default)]
struct Stripe {
    /// Counts changes to this stripe's sessions that the cache did not
    /// follow (invalidations, creates, deletes, failed writes, evictions).
    generation: u64,
    entries: HashMap<SessionId, Entry>,
    /// Insertion order, for eviction: each entry's id and sequence number.
    /// A pair whose entry is gone or was inserted again (another number) is
    /// stale, and skipped.
    order: VecDeque<(SessionId, u64)>,
    /// The sequence number of the next insert.
    next_seq: u64,
}

impl Stripe {
    /// Session `id` changed in a way the copy cannot follow: drop it, and
    /// refuse loads in flight.
    fn changed(&mut self, id: &SessionId) {
        self.generation += 1;
        self.entries.remove(id);
    }
}

struct Entry {
    /// The copy; `None` after a save of this store that could not be
    /// applied to a copy, until a load at least as new brings one.
    record: Option<SessionRecord>,
    /// The highest revision this store's saves reported: older loads are
    /// refused.
    floor: u64,
    /// Saves that completed ahead of an earlier one.
    ahead: Vec<Write<Box<SessionPatch>>>,
    stored: Instant,
    /// Names this entry's pair in the stripe's eviction order.
    seq: u64,
}

impl Entry {
    fn new(record: Option<SessionRecord>, floor: u64) -> Self {
        Self {
            record,
            floor,
            ahead: Vec::new(),
            stored: Instant::now(),
            seq: 0,
        }
    }

    /// Applies the saves kept aside that follow the copy's revision; whether
    /// the copy is still consistent.
    fn catch_up(&mut self) -> bool {
        let Some(record) = &mut self.record else {
            return true;
        };
        self.ahead.retain(|w| w.stored.revision > record.revision);
        while let Some(next) = self
            .ahead
            .iter()
            .position(|w| w.stored.revision == record.revision + 1)
        {
            if !self.ahead.swap_remove(next).apply(record) {
                return false;
            }
        }
        true
    }
}

/// A save or touch of this store, as its script reported it.
pub(crate) struct Write<P> {
    /// The patch; `None` for a touch.
    pub(crate) patch: Option<P>,
    pub(crate) last_seen: Timestamp,
    pub(crate) expires_at: Option<Timestamp>,
    /// `_m` as the script left it.
    pub(crate) stored: Meta,
}

/// A write as the store hands it over.
pub(crate) type OwnWrite<'a> = Write<&'a SessionPatch>;

impl<P: Borrow<SessionPatch>> Write<P> {
    /// Whether the write bumped the revision.
    fn changes_data(&self) -> bool {
        self.patch
            .as_ref()
            .is_some_and(|p| p.borrow().changes_data())
    }

    /// Does to `record` what the script did; whether `record`'s metadata
    /// then equals what the script reported.
    fn apply(&self, record: &mut SessionRecord) -> bool {
        match &self.patch {
            Some(patch) => record.apply(patch.borrow()),
            None => {
                record.last_seen = record.last_seen.max(self.last_seen);
                if let Some(expires_at) = self.expires_at {
                    record.expires_at = expires_at;
                }
            }
        }
        Meta::of(record) == self.stored
    }

    fn to_owned(&self) -> Write<Box<SessionPatch>> {
        Write {
            patch: self.patch.as_ref().map(|p| Box::new(p.borrow().clone())),
            last_seen: self.last_seen,
            expires_at: self.expires_at,
            stored: self.stored,
        }
    }
}

/// Taken before a command is sent: a load's result may enter the cache only
/// if nothing from elsewhere changed the session's stripe meanwhile.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    stripe: usize,
    generation: u64,
    /// The copy exists but is behind a save kept aside.
    behind: bool,
}

impl std::fmt::Debug for LocalCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCache")
            .field("capacity", &(self.per_stripe * self.stripes.len()))
            .field("max_age", &self.max_age)
            .finish_non_exhaustive()
    }
}

fn lock(stripe: &Mutex<Stripe>) -> MutexGuard<'_, Stripe> {
    // Nothing that can panic runs under the lock; a poisoned stripe is still
    // consistent.
    stripe.lock().unwrap_or_else(PoisonError::into_inner)
}

impl LocalCache {
    /// A cache of about `capacity` sessions (rounded up to whole stripes),
    /// each used for at most `max_age` after it was last confirmed (loaded
    /// or written).
    pub(crate) fn new(capacity: usize, max_age: Duration) -> Self {
        let stripes = (capacity / MIN_PER_STRIPE)
            .clamp(1, MAX_STRIPES)
            .next_power_of_two()
            .min(MAX_STRIPES);
        Self {
            stripes: (0..stripes).map(|_| Mutex::default()).collect(),
            per_stripe: capacity.div_ceil(stripes).max(1),
            max_age,
            // 128 random bits, as for session ids.
            writer: SessionId::generate().to_string(),
        }
    }

    /// This store's name in marker keys.
    pub(crate) fn writer(&self) -> &str {
        &self.writer
    }

    fn stripe_of(&self, id: &SessionId) -> usize {
        // Ids are random, so their first bytes spread them evenly; the
        // number of stripes is a power of two.
        let [a, b, ..] = *id.as_bytes();
        usize::from(u16::from_le_bytes([a, b])) & (self.stripes.len() - 1)
    }

    /// A copy of session `id` if cached, young enough, and not behind a save
    /// kept aside (whose client may already have its answer); else the
    /// ticket of the load that goes to Redis instead.
    pub(crate) fn lookup(&self, id: &SessionId) -> Result<SessionRecord, Ticket> {
        let index = self.stripe_of(id);
        let mut stripe = lock(&self.stripes[index]);
        let behind = match stripe.entries.get(id) {
            Some(entry) if entry.stored.elapsed() >= self.max_age => {
                stripe.changed(id);
                false
            }
            Some(Entry {
                record: Some(copy),
                ahead,
                ..
            }) if ahead.is_empty() => return Ok(copy.clone()),
            Some(entry) => entry.record.is_some(),
            None => false,
        };
        Err(Ticket {
            stripe: index,
            generation: stripe.generation,
            behind,
        })
    }

    /// [`lookup`](Self::lookup), but a copy behind a save kept aside is
    /// given a few turns of the runtime to catch up before the load goes to
    /// Redis. The store's one connection answers in order, so the earlier
    /// saves' replies have arrived and their tasks are ready to apply them:
    /// several requests of one session in flight (parallel API calls) then
    /// keep being served from memory.
    pub(crate) async fn lookup_settled(&self, id: &SessionId) -> Result<SessionRecord, Ticket> {
        let mut turns = 0;
        loop {
            match self.lookup(id) {
                Err(ticket) if ticket.behind && turns < SETTLE_YIELDS => {
                    turns += 1;
                    tokio::task::yield_now().await;
                }
                result => return result,
            }
        }
    }

    /// A load read `record`: cache it, unless something changed its stripe
    /// since the load was sent, or the copy is already as new, or a save of
    /// this store completed after the load was served.
    pub(crate) fn loaded(&self, ticket: Ticket, record: &SessionRecord) {
        if !Self::cacheable(record) {
            return;
        }
        let mut stripe = lock(&self.stripes[ticket.stripe]);
        if stripe.generation != ticket.generation {
            return;
        }
        let Some(entry) = stripe.entries.get_mut(&record.id) else {
            let entry = Entry::new(Some(record.clone()), record.revision);
            self.insert(&mut stripe, record.id, entry);
            return;
        };
        let newer = match &entry.record {
            Some(copy) => record.revision > copy.revision,
            None => record.revision >= entry.floor,
        };
        if newer {
            entry.record = Some(record.clone());
            entry.stored = Instant::now();
            if !entry.catch_up() {
                stripe.changed(&record.id);
            }
        }
    }

    /// This store's save or touch of session `id` succeeded (`wrote`: the
    /// script wrote the hash, and with it this store's marker): the copy
    /// follows it (see the module docs), or is dropped when it cannot: a
    /// touch it cannot place, or a mismatch.
    pub(crate) fn wrote(&self, id: &SessionId, wrote: bool, write: &OwnWrite<'_>) {
        if !wrote {
            // Nothing written: nothing to follow, and nothing changed.
            return;
        }
        let mut stripe = lock(&self.stripes[self.stripe_of(id)]);
        let revision = write.stored.revision;
        let data = write.changes_data();
        let Some(entry) = stripe.entries.get_mut(id) else {
            if data {
                // No copy, but older loads must not make one.
                self.insert(&mut stripe, *id, Entry::new(None, revision));
            } else {
                // Refuses loads sent before the touch.
                stripe.changed(id);
            }
            return;
        };
        entry.floor = entry.floor.max(revision);
        let consistent = match &mut entry.record {
            None => data,
            Some(copy) if data => {
                if revision == copy.revision + 1 {
                    write.apply(copy) && Self::cacheable(copy) && entry.catch_up()
                } else if revision <= copy.revision {
                    // The copy was loaded after this save.
                    true
                } else {
                    entry.ahead.push(write.to_owned());
                    entry.ahead.len() <= MAX_AHEAD
                }
            }
            Some(copy) => revision == copy.revision && write.apply(copy),
        };
        entry.stored = Instant::now();
        if !consistent {
            stripe.changed(id);
        }
    }

    /// Session `id` changed in a way the copy cannot follow: created,
    /// deleted or rebound by this store, or a write that failed or was
    /// refused.
    pub(crate) fn changed(&self, id: &SessionId) {
        lock(&self.stripes[self.stripe_of(id)]).changed(id);
    }

    /// Drops everything: invalidations may have been missed.
    pub(crate) fn forget_all(&self) {
        for stripe in &self.stripes {
            let mut stripe = lock(stripe);
            *stripe = Stripe {
                generation: stripe.generation + 1,
                ..Stripe::default()
            };
        }
    }

    /// Handles one push message from Redis (see the module docs).
    pub(crate) fn on_push(&self, keys: &Keys, push: &PushInfo) {
        match push.kind {
            PushKind::Invalidate => {
                let mut names = Vec::new();
                for value in &push.data {
                    match value {
                        // A flush of the whole database.
                        Value::Nil => return self.forget_all(),
                        Value::Array(items) | Value::Set(items) => {
                            names.extend(items.iter().filter_map(name));
                        }
                        item => names.extend(name(item)),
                    }
                }
                self.invalidated(keys, &names);
            }
            PushKind::Disconnection => self.forget_all(),
            _ => {}
        }
    }

    /// One invalidation message's keys: each session key named drops its
    /// copy, unless this store's marker of that session came with it and no
    /// other store's did.
    fn invalidated(&self, keys: &Keys, names: &[&[u8]]) {
        let markers = || names.iter().filter_map(|name| keys.marker_of(name));
        // Sessions this store wrote in that iteration (usually none or a
        // few), less those another store wrote too.
        let mut own: Vec<SessionId> = markers()
            .filter(|(_, writer)| *writer == self.writer.as_bytes())
            .map(|(id, _)| id)
            .collect();
        if !own.is_empty() {
            for (id, writer) in markers() {
                if writer != self.writer.as_bytes() {
                    own.retain(|own| *own != id);
                }
            }
        }
        for id in names.iter().filter_map(|name| keys.id_of(name)) {
            if !own.contains(&id) {
                self.changed(&id);
            }
        }
    }

    fn cacheable(record: &SessionRecord) -> bool {
        record.byte_size() <= MAX_CACHED_RECORD_BYTES
    }

    fn insert(&self, stripe: &mut Stripe, id: SessionId, mut entry: Entry) {
        // A session dropped and loaded again gets a new number, so the pair
        // of its earlier entry can no longer evict this one.
        entry.seq = stripe.next_seq;
        stripe.next_seq += 1;
        stripe.order.push_back((id, entry.seq));
        stripe.entries.insert(id, entry);
        while stripe.entries.len() > self.per_stripe {
            let Some((oldest, seq)) = stripe.order.pop_front() else {
                break;
            };
            if stripe.entries.get(&oldest).is_some_and(|e| e.seq == seq) {
                // An evicted entry's floor goes with it: refuse older loads.
                stripe.changed(&oldest);
            }
        }
        // Pairs of entries dropped by other means pile up in `order`;
        // compacting to the live pairs (one per entry) keeps it in
        // proportion to the entries.
        if stripe.order.len() > 2 * self.per_stripe + 8 {
            let Stripe { entries, order, .. } = stripe;
            order.retain(|(id, seq)| entries.get(id).is_some_and(|e| e.seq == *seq));
        }
    }

    /// How many sessions are cached (for tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.stripes
            .iter()
            .map(|s| {
                lock(s)
                    .entries
                    .values()
                    .filter(|e| e.record.is_some())
                    .count()
            })
            .sum()
    }
}

/// A key named in an invalidation.
fn name(value: &Value) -> Option<&[u8]> {
    match value {
        Value::BulkString(name) => Some(name),
        Value::SimpleString(name) => Some(name.as_bytes()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl LocalCache {
        fn get(&self, id: &SessionId) -> Option<SessionRecord> {
            self.lookup(id).ok()
        }

        /// How long the eviction order of `id`'s stripe is.
        fn order_len(&self, id: &SessionId) -> usize {
            lock(&self.stripes[self.stripe_of(id)]).order.len()
        }

        /// The ticket a load of `id` would take now, cached or not.
        fn ticket(&self, id: &SessionId) -> Ticket {
            let stripe = self.stripe_of(id);
            Ticket {
                stripe,
                generation: lock(&self.stripes[stripe]).generation,
                behind: false,
            }
        }
    }

    const PREFIX: &str = "app:";

    fn record() -> SessionRecord {
        SessionRecord::new(
            SessionId::generate(),
            Timestamp::from_millis(1),
            Timestamp::from_millis(1_000),
        )
    }

    fn cache() -> LocalCache {
        LocalCache::new(10_000, Duration::from_secs(60))
    }

    /// Loads `r` as the store does.
    fn load(cache: &LocalCache, r: &SessionRecord) {
        cache.loaded(cache.ticket(&r.id), r);
    }

    fn count(value: &str) -> SessionPatch {
        SessionPatch {
            set_fields: [("count", value)].into_iter().collect(),
            last_seen: Timestamp::from_millis(1),
            ..SessionPatch::default()
        }
    }

    /// A save of `patch` that Redis reports at `revision` (times unchanged
    /// from `r`).
    fn saved<'a>(r: &SessionRecord, patch: &'a SessionPatch, revision: u64) -> OwnWrite<'a> {
        OwnWrite {
            patch: Some(patch),
            last_seen: patch.last_seen,
            expires_at: None,
            stored: Meta {
                revision,
                ..Meta::of(r)
            },
        }
    }

    /// The invalidation Redis sends for one event loop iteration in which
    /// session `id` was written by the stores named in `writers`.
    fn push(cache: &LocalCache, id: &SessionId, writers: &[&str]) {
        let keys = Keys::new(PREFIX);
        let mut names = vec![Value::BulkString(keys.session(id).into_bytes())];
        for writer in writers {
            let mut marker: Vec<Vec<u8>> = Vec::new();
            keys.write_marker(id, writer, &mut marker);
            names.extend(marker.into_iter().map(Value::BulkString));
        }
        let push = PushInfo {
            kind: PushKind::Invalidate,
            data: vec![Value::Array(names)],
        };
        cache.on_push(&keys, &push);
    }

    /// Saves as the store does, its invalidation included.
    fn save(cache: &LocalCache, r: &SessionRecord, patch: &SessionPatch, revision: u64) {
        cache.wrote(&r.id, true, &saved(r, patch, revision));
        push(cache, &r.id, &[cache.writer()]);
    }

    fn cached_count(cache: &LocalCache, id: &SessionId) -> Option<String> {
        cache
            .get(id)
            .and_then(|r| r.fields.get("count").map(str::to_owned))
    }

    #[test]
    fn a_load_is_cached_until_the_session_changes() {
        let cache = cache();
        let a = record();
        load(&cache, &a);
        assert_eq!(cache.get(&a.id), Some(a.clone()));
        cache.changed(&a.id);
        assert_eq!(cache.get(&a.id), None);
    }

    #[test]
    fn a_load_sent_before_a_change_is_not_cached() {
        let cache = cache();
        let a = record();
        let ticket = cache.ticket(&a.id);
        push(&cache, &a.id, &[]);
        cache.loaded(ticket, &a);
        assert_eq!(cache.get(&a.id), None);
        load(&cache, &a);
        assert_eq!(cache.get(&a.id), Some(a));
    }

    #[test]
    fn an_own_save_updates_the_copy_and_its_own_invalidation_keeps_it() {
        let cache = cache();
        let a = record();
        load(&cache, &a);
        save(&cache, &a, &count("1"), 1);
        assert_eq!(cached_count(&cache, &a.id).as_deref(), Some("1"));
        assert_eq!(cache.get(&a.id).map(|r| r.revision), Some(1));
    }

    #[test]
    fn invalidations_without_this_stores_marker_alone_drop_the_copy() {
        let cache = cache();
        let own = cache.writer().to_owned();
        for writers in [vec![], vec!["other"], vec![own.as_str(), "other"]] {
            let a = record();
            load(&cache, &a);
            push(&cache, &a.id, &writers);
            assert_eq!(cache.get(&a.id), None, "writers {writers:?}");
        }
    }

    #[test]
    fn own_saves_merged_into_one_invalidation_leave_nothing_behind() {
        let cache = cache();
        let a = record();
        load(&cache, &a);
        let (one, two, three) = (count("1"), count("2"), count("3"));
        // Three saves in one event loop iteration: one invalidation.
        cache.wrote(&a.id, true, &saved(&a, &one, 1));
        cache.wrote(&a.id, true, &saved(&a, &two, 2));
        cache.wrote(&a.id, true, &saved(&a, &three, 3));
        push(&cache, &a.id, &[cache.writer()]);
        assert_eq!(cached_count(&cache, &a.id).as_deref(), Some("3"));
        // The next change from elsewhere is not taken for an echo.
        push(&cache, &a.id, &["other"]);
        assert_eq!(cache.get(&a.id), None);
    }

    #[test]
    fn a_copy_that_does_not_match_is_dropped_and_a_write_of_nothing_keeps_it() {
        let cache = cache();
        let a = record();
        load(&cache, &a);
        let patch = count("1");
        cache.wrote(&a.id, false, &saved(&a, &patch, 1));
        assert_eq!(cache.get(&a.id), Some(a.clone()));
        let mut wrong = saved(&a, &patch, 1);
        wrong.stored.last_seen = Timestamp::from_millis(99);
        cache.wrote(&a.id, true, &wrong);
        assert_eq!(cache.get(&a.id), None);
    }

    #[test]
    fn a_load_older_than_a_completed_save_is_refused() {
        let cache = cache();
        let a = record();
        load(&cache, &a);
        let ticket = cache.ticket(&a.id);
        save(&cache, &a, &count("1"), 1);
        cache.loaded(ticket, &a);
        assert_eq!(cached_count(&cache, &a.id).as_deref(), Some("1"));

        // Without a copy, too: the save leaves its revision behind.
        let b = record();
        let ticket = cache.ticket(&b.id);
        let mut at_five = b.clone();
        at_five.revision = 5;
        save(&cache, &at_five, &count("6"), 6);
        cache.loaded(ticket, &at_five);
        assert_eq!(cache.get(&b.id), None);
        let mut at_six = at_five.clone();
        at_six.apply(&count("6"));
        load(&cache, &at_six);
        assert_eq!(cached_count(&cache, &b.id).as_deref(), Some("6"));
    }

    #[test]
    fn saves_completing_out_of_order_are_applied_in_revision_order() {
        let cache = cache();
        let a = record();
        load(&cache, &a);
        let (one, two) = (count("1"), count("2"));
        cache.wrote(&a.id, true, &saved(&a, &two, 2));
        // The copy is behind a completed save: not served.
        assert_eq!(cache.get(&a.id), None);
        cache.wrote(&a.id, true, &saved(&a, &one, 1));
        push(&cache, &a.id, &[cache.writer()]);
        let copy = cache.get(&a.id).unwrap();
        assert_eq!((copy.revision, copy.fields.get("count")), (2, Some("2")));

        // A load of the latest state settles saves kept aside, too.
        let three = count("3");
        save(&cache, &copy, &three, 4);
        assert_eq!(cache.get(&a.id), None);
        let mut latest = copy.clone();
        latest.revision = 4;
        latest.fields.insert("count", "3");
        load(&cache, &latest);
        assert_eq!(cache.get(&a.id), Some(latest));
    }

    #[test]
    fn a_lookup_behind_a_kept_save_waits_for_the_earlier_one() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let cache = std::sync::Arc::new(cache());
        let a = record();
        load(&cache, &a);
        let (one, two) = (count("1"), count("2"));
        cache.wrote(&a.id, true, &saved(&a, &two, 2));
        assert!(cache.lookup(&a.id).is_err_and(|t| t.behind));
        // The earlier save's task runs while the lookup yields.
        let copy = runtime.block_on(async {
            let earlier = {
                let (cache, a, one) = (cache.clone(), a.clone(), one.clone());
                tokio::spawn(async move { cache.wrote(&a.id, true, &saved(&a, &one, 1)) })
            };
            let copy = cache.lookup_settled(&a.id).await;
            earlier.await.unwrap();
            copy
        });
        let copy = copy.expect("served from memory once the earlier save landed");
        assert_eq!((copy.revision, copy.fields.get("count")), (2, Some("2")));

        // When it does not land, the lookup gives up and takes a ticket.
        let three = count("3");
        cache.wrote(&a.id, true, &saved(&copy, &three, 4));
        let missed = runtime.block_on(cache.lookup_settled(&a.id));
        assert!(missed.is_err_and(|t| t.behind));
        // Nothing cached: not behind anything.
        assert!(cache.lookup(&record().id).is_err_and(|t| !t.behind));
    }

    #[test]
    fn a_touch_moves_the_copy_or_drops_it() {
        let cache = cache();
        let a = record();
        load(&cache, &a);
        let later = Timestamp::from_millis(5_000);
        let touch = |revision| OwnWrite {
            patch: None,
            last_seen: Timestamp::from_millis(2),
            expires_at: Some(later),
            stored: Meta {
                last_seen: Timestamp::from_millis(2),
                expires: later,
                revision,
                ..Meta::of(&a)
            },
        };
        cache.wrote(&a.id, true, &touch(0));
        assert_eq!(cache.get(&a.id).map(|r| r.expires_at), Some(later));
        // Reported at a revision the copy is not at: it cannot be placed.
        cache.wrote(&a.id, true, &touch(3));
        assert_eq!(cache.get(&a.id), None);
    }

    #[test]
    fn a_flush_or_a_lost_connection_drops_everything() {
        let keys = Keys::new(PREFIX);
        let cache = cache();
        let (a, b) = (record(), record());
        load(&cache, &a);
        load(&cache, &b);
        let ticket = cache.ticket(&a.id);
        cache.on_push(
            &keys,
            &PushInfo {
                kind: PushKind::Invalidate,
                data: vec![Value::Nil],
            },
        );
        assert_eq!(cache.len(), 0);
        cache.loaded(ticket, &a);
        assert_eq!(cache.get(&a.id), None);

        load(&cache, &b);
        cache.on_push(
            &keys,
            &PushInfo {
                kind: PushKind::Disconnection,
                data: vec![],
            },
        );
        assert_eq!(cache.get(&b.id), None);
    }

    #[test]
    fn old_entries_are_not_used() {
        let cache = LocalCache::new(10, Duration::ZERO);
        let a = record();
        load(&cache, &a);
        assert_eq!(cache.get(&a.id), None);
    }

    #[test]
    fn each_stripe_keeps_its_share_evicting_the_oldest() {
        // Room for 16: 2 stripes of 8.
        let cache = LocalCache::new(16, Duration::from_secs(60));
        let first = record();
        let stripe = cache.stripe_of(&first.id);
        load(&cache, &first);
        let mut same_stripe = Vec::new();
        while same_stripe.len() < cache.per_stripe {
            let r = record();
            if cache.stripe_of(&r.id) == stripe {
                load(&cache, &r);
                same_stripe.push(r);
            }
        }
        assert_eq!(cache.get(&first.id), None);
        for r in same_stripe {
            assert_eq!(cache.get(&r.id), Some(r));
        }
    }

    /// Records other than `first` whose ids fall in `first`'s stripe.
    fn in_stripe_of(cache: &LocalCache, first: &SessionRecord, n: usize) -> Vec<SessionRecord> {
        let stripe = cache.stripe_of(&first.id);
        std::iter::repeat_with(record)
            .filter(|r| cache.stripe_of(&r.id) == stripe)
            .take(n)
            .collect()
    }

    /// A session dropped and loaded again and again (two app servers taking
    /// turns on one user's requests) adds to its stripe's eviction order on
    /// each load; the order must still stay in proportion to the entries,
    /// or every insert walks a longer and longer order.
    #[test]
    fn a_session_reloaded_many_times_keeps_the_eviction_order_bounded() {
        let cache = LocalCache::new(16, Duration::from_secs(60));
        let a = record();
        let others = in_stripe_of(&cache, &a, 3);
        for r in &others {
            load(&cache, r);
        }
        let bound = 2 * cache.per_stripe + 8;
        let mut longest = 0;
        for _ in 0..10_000 {
            load(&cache, &a);
            longest = longest.max(cache.order_len(&a.id));
            // Another server's save.
            push(&cache, &a.id, &["other"]);
        }
        assert!(
            longest <= bound,
            "the eviction order grew to {longest} (bound {bound})"
        );
        load(&cache, &a);
        assert_eq!(cache.get(&a.id), Some(a));
        for r in others {
            assert_eq!(cache.get(&r.id), Some(r));
        }
    }

    /// The place an earlier copy of a session held in the eviction order
    /// does not evict its new copy: the oldest copy goes instead.
    #[test]
    fn a_reloaded_session_is_not_evicted_for_its_earlier_copy() {
        // Room for 16: 2 stripes of 8.
        let cache = LocalCache::new(16, Duration::from_secs(60));
        let a = record();
        load(&cache, &a);
        push(&cache, &a.id, &["other"]);
        let others = in_stripe_of(&cache, &a, cache.per_stripe);
        for r in &others {
            load(&cache, r);
        }
        // The stripe is full; `a` comes back, and the oldest goes.
        load(&cache, &a);
        assert_eq!(cache.get(&a.id), Some(a));
        assert_eq!(cache.get(&others[0].id), None);
        for r in &others[1..] {
            assert_eq!(cache.get(&r.id).as_ref(), Some(r));
        }
    }

    #[test]
    fn the_capacity_asked_for_is_about_what_is_held() {
        for capacity in [1, 100, 5_000, 20_000] {
            let cache = LocalCache::new(capacity, Duration::from_secs(60));
            for _ in 0..3 * capacity {
                load(&cache, &record());
            }
            let held = cache.len();
            let slack = cache.stripes.len() * MIN_PER_STRIPE / 2;
            assert!(held <= capacity + slack, "asked {capacity}, held {held}");
            assert!(held * 2 >= capacity, "asked {capacity}, held {held}");
        }
    }

    #[test]
    fn large_records_are_not_cached() {
        let cache = cache();
        let mut a = record();
        a.fields.insert("big", "x".repeat(MAX_CACHED_RECORD_BYTES));
        load(&cache, &a);
        assert_eq!(cache.get(&a.id), None);
        // The binding counts too: a label is as large as a client makes it.
        let mut b = record();
        b.binding = Some(Box::new(
            session_core::Binding::user("u").with_label("x".repeat(MAX_CACHED_RECORD_BYTES)),
        ));
        load(&cache, &b);
        assert_eq!(cache.get(&b.id), None);
        b.binding = Some(Box::new(
            session_core::Binding::user("u").with_label("phone"),
        ));
        load(&cache, &b);
        assert!(cache.get(&b.id).is_some(), "a small bound record is cached");
    }

    /// Invalidation messages come from Redis: under generated cases any
    /// message drops a cached copy exactly when it names that session's key
    /// (or flushes everything), and never panics.
    mod properties {
        use proptest::prelude::*;

        use super::*;

        /// A name in an invalidation: the cached session's key, another
        /// session's, this store's or another store's marker of the cached
        /// session, or any bytes.
        #[derive(Debug, Clone)]
        enum Name {
            Cached,
            Other,
            OwnMarker,
            ForeignMarker,
            Bytes(Vec<u8>),
        }

        fn name() -> impl Strategy<Value = Name> {
            prop_oneof![
                Just(Name::Cached),
                Just(Name::Other),
                Just(Name::OwnMarker),
                Just(Name::ForeignMarker),
                prop::collection::vec(any::<u8>(), 0..30).prop_map(Name::Bytes),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn a_copy_goes_exactly_when_an_invalidation_names_it(
                names in prop::collection::vec((name(), any::<bool>()), 0..6),
                flat in any::<bool>(),
                flush in prop::option::weighted(0.05, Just(())),
                noise in prop::collection::vec(any::<i64>(), 0..2),
            ) {
                let cache = cache();
                let keys = Keys::new(PREFIX);
                let a = record();
                let other = SessionId::generate();
                load(&cache, &a);
                let marker = |writer: &str| {
                    let mut out: Vec<Vec<u8>> = Vec::new();
                    keys.write_marker(&a.id, writer, &mut out);
                    out.remove(0)
                };
                let values: Vec<Value> = names
                    .iter()
                    .map(|(name, simple)| {
                        let bytes = match name {
                            Name::Cached => keys.session(&a.id).into_bytes(),
                            Name::Other => keys.session(&other).into_bytes(),
                            Name::OwnMarker => marker(cache.writer()),
                            Name::ForeignMarker => marker("another-store"),
                            Name::Bytes(bytes) => bytes.clone(),
                        };
                        match String::from_utf8(bytes) {
                            Ok(text) if *simple => Value::SimpleString(text),
                            Ok(text) => Value::BulkString(text.into_bytes()),
                            Err(bytes) => Value::BulkString(bytes.into_bytes()),
                        }
                    })
                    .chain(noise.into_iter().map(Value::Int))
                    .collect();
                let mut data = if flat { values } else { vec![Value::Array(values)] };
                if flush.is_some() {
                    data.push(Value::Nil);
                }
                cache.on_push(&keys, &PushInfo { kind: PushKind::Invalidate, data });
                let has = |wanted: fn(&Name) -> bool| names.iter().any(|(n, _)| wanted(n));
                let named = has(|n| matches!(n, Name::Cached));
                // This store's own write, with no other store's: the copy
                // already holds it.
                let own = has(|n| matches!(n, Name::OwnMarker))
                    && !has(|n| matches!(n, Name::ForeignMarker));
                let dropped = flush.is_some() || (named && !own);
                prop_assert_eq!(cache.get(&a.id).is_none(), dropped, "{:?}", names);
            }
        }
    }
}
