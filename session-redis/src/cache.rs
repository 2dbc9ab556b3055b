//! The optional local cache: sessions read recently, kept in the app's memory
//! until anything changes them, so a read-only request costs no round trip.
//!
//! Coherence comes from Redis itself: the connection turns on
//! `CLIENT TRACKING ON BCAST PREFIX <session keys>`, so every change to a
//! session key (by another app server, an admin, an expiry, or this store)
//! arrives as an invalidation on the same connection, in order with the
//! replies, and drops the copy.
//!
//! Every invalidation is taken as a change from elsewhere, and this store's
//! own writes drop the copy too: Redis merges the invalidations of one event
//! loop iteration into one message, so an echo of an own write cannot be
//! told apart from another client's change made in the same instant, and
//! `NOLOOP` does not cover script writes on Redis 7.0. A copy therefore lives
//! from a load to the next change of that session, whoever makes it.
//!
//! Replies and invalidations are handled by different tasks, so a load's
//! reply can be seen after an invalidation that Redis sent later. Each
//! stripe of the cache counts the changes to its sessions (its generation):
//! a load takes a [`Ticket`] before it is sent, and its result enters the
//! cache only if the stripe's generation is still the ticket's.
//!
//! A lost connection drops everything (invalidations may have been missed),
//! and a copy older than the configured maximum age is not used, which bounds
//! how stale a copy can be if the connection stops delivering without
//! failing.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use redis::{PushInfo, PushKind, Value};
use session_core::{SessionId, SessionRecord};

use crate::keys::Keys;

/// Most stripes: a load's result is refused when another change hit its
/// stripe while it was in flight, so more stripes mean fewer needless misses.
const MAX_STRIPES: usize = 1024;

/// Sessions per stripe a small cache aims at (fewer stripes, so the total
/// stays near the capacity asked for).
const MIN_PER_STRIPE: usize = 8;

/// Records larger than this (data plus flash, in bytes) are not cached: they
/// are rare and would crowd out many small ones.
pub(crate) const MAX_CACHED_RECORD_BYTES: usize = 16 * 1024;

/// Sessions read recently, dropped at their next change.
pub(crate) struct LocalCache {
    stripes: Box<[Mutex<Stripe>]>,
    per_stripe: usize,
    max_age: Duration,
}

#[derive(Default)]
struct Stripe {
    /// Counts changes to this stripe's sessions (and evictions).
    generation: u64,
    entries: HashMap<SessionId, Entry>,
    /// Insertion order, for eviction; may name entries already gone.
    order: VecDeque<SessionId>,
}

impl Stripe {
    /// Session `id` changed: drop its copy, and refuse loads in flight.
    fn changed(&mut self, id: &SessionId) {
        self.generation += 1;
        self.entries.remove(id);
    }
}

struct Entry {
    record: SessionRecord,
    stored: Instant,
}

/// Taken before a load is sent: its result may enter the cache only if
/// nothing changed the session's stripe meanwhile.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    stripe: usize,
    generation: u64,
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
    /// each used for at most `max_age` after it was loaded.
    pub(crate) fn new(capacity: usize, max_age: Duration) -> Self {
        let stripes = (capacity / MIN_PER_STRIPE)
            .clamp(1, MAX_STRIPES)
            .next_power_of_two()
            .min(MAX_STRIPES);
        Self {
            stripes: (0..stripes).map(|_| Mutex::default()).collect(),
            per_stripe: capacity.div_ceil(stripes).max(1),
            max_age,
        }
    }

    fn stripe_of(&self, id: &SessionId) -> usize {
        // Ids are random, so their first bytes spread them evenly; the
        // number of stripes is a power of two.
        let [a, b, ..] = *id.as_bytes();
        usize::from(u16::from_le_bytes([a, b])) & (self.stripes.len() - 1)
    }

    /// A copy of session `id`, if cached and young enough.
    pub(crate) fn get(&self, id: &SessionId) -> Option<SessionRecord> {
        let mut stripe = lock(&self.stripes[self.stripe_of(id)]);
        let entry = stripe.entries.get(id)?;
        if entry.stored.elapsed() < self.max_age {
            return Some(entry.record.clone());
        }
        stripe.entries.remove(id);
        None
    }

    /// The ticket of a load of session `id`, taken before it is sent.
    pub(crate) fn ticket(&self, id: &SessionId) -> Ticket {
        let stripe = self.stripe_of(id);
        Ticket {
            stripe,
            generation: lock(&self.stripes[stripe]).generation,
        }
    }

    /// A load read `record`: cache it, unless its stripe changed since the
    /// load was sent (the copy may then be older than the change).
    pub(crate) fn loaded(&self, ticket: Ticket, record: &SessionRecord) {
        if record.fields.byte_size() + record.flash.byte_size() > MAX_CACHED_RECORD_BYTES {
            return;
        }
        let mut stripe = lock(&self.stripes[ticket.stripe]);
        if stripe.generation == ticket.generation {
            self.insert(&mut stripe, record.clone());
        }
    }

    /// Session `id` changed, or may have: written or deleted by this store
    /// (whatever the outcome), or named by an invalidation.
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
                for value in &push.data {
                    match value {
                        // A flush of the whole database.
                        Value::Nil => self.forget_all(),
                        Value::Array(names) | Value::Set(names) => {
                            for name in names {
                                self.invalidate(keys, name);
                            }
                        }
                        name => self.invalidate(keys, name),
                    }
                }
            }
            PushKind::Disconnection => self.forget_all(),
            _ => {}
        }
    }

    fn invalidate(&self, keys: &Keys, name: &Value) {
        let name = match name {
            Value::BulkString(name) => name.as_slice(),
            Value::SimpleString(name) => name.as_bytes(),
            _ => return,
        };
        if let Some(id) = keys.id_of(name) {
            self.changed(&id);
        }
    }

    fn insert(&self, stripe: &mut Stripe, record: SessionRecord) {
        let id = record.id;
        let entry = Entry {
            record,
            stored: Instant::now(),
        };
        if stripe.entries.insert(id, entry).is_some() {
            return;
        }
        stripe.order.push_back(id);
        while stripe.entries.len() > self.per_stripe {
            match stripe.order.pop_front() {
                Some(oldest) => {
                    stripe.entries.remove(&oldest);
                }
                None => break,
            }
        }
        // Ids of entries dropped by other means pile up in `order`; compact
        // it now and then so it stays in proportion to the entries.
        if stripe.order.len() > 2 * self.per_stripe + 8 {
            let Stripe { entries, order, .. } = stripe;
            order.retain(|id| entries.contains_key(id));
        }
    }

    /// How many sessions are cached (for tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.stripes.iter().map(|s| lock(s).entries.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use session_core::Timestamp;

    use super::*;

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
        // A change handled before the load's reply: the reply may be older.
        cache.changed(&a.id);
        cache.loaded(ticket, &a);
        assert_eq!(cache.get(&a.id), None);
        load(&cache, &a);
        assert_eq!(cache.get(&a.id), Some(a));
    }

    #[test]
    fn invalidations_name_keys_or_flush_everything() {
        let keys = Keys::new("app:");
        let cache = cache();
        let (a, b) = (record(), record());
        load(&cache, &a);
        load(&cache, &b);
        let push = |data| PushInfo {
            kind: PushKind::Invalidate,
            data,
        };
        cache.on_push(
            &keys,
            &push(vec![Value::Array(vec![
                Value::BulkString(keys.session(&a.id).into_bytes()),
                Value::BulkString(b"app:u:{ada}".to_vec()),
            ])]),
        );
        assert_eq!(cache.get(&a.id), None);
        assert_eq!(cache.get(&b.id), Some(b.clone()));
        cache.on_push(&keys, &push(vec![Value::Nil]));
        assert_eq!(cache.len(), 0);

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
    fn a_lost_connection_refuses_loads_in_flight() {
        let cache = cache();
        let a = record();
        let ticket = cache.ticket(&a.id);
        cache.forget_all();
        cache.loaded(ticket, &a);
        assert_eq!(cache.get(&a.id), None);
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
    }
}
