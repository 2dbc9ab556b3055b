//! One shard of the memory store.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use indexmap::IndexMap;

use super::entry::Entry;
use super::hasher::BuildIdHasher;
use crate::store::StoreError;
use crate::{SessionId, Timestamp};

/// Entries examined by the sweep step that runs with each write.
const SWEEP_STEP: usize = 2;

/// A removed entry with its id (the user index needs both).
pub(super) type Removed = (SessionId, Entry);

/// Later than any expiry.
const NEVER: Timestamp = Timestamp::from_millis(u64::MAX);

pub(super) struct Shard {
    // IndexMap so the sweep can walk entries by position without a second structure.
    map: IndexMap<SessionId, Entry, BuildIdHasher>,
    cursor: usize,
    /// No entry expires before this, so the sweep step rests until then
    /// instead of reading (mostly cold) entries on every write: the earliest
    /// expiry the cursor's last full pass saw, lowered by every write since.
    rest_until: Timestamp,
    /// The earliest expiry the cursor's current pass has seen, and of every
    /// entry written or moved behind the cursor during it.
    pass_earliest: Timestamp,
    /// Entries held by every shard of the store, kept with each insert and
    /// removal (a sum of the shards would take every lock).
    held: Arc<AtomicUsize>,
}

impl Default for Shard {
    fn default() -> Self {
        Self::new(Arc::default())
    }
}

impl Shard {
    /// An empty shard counting its entries into `held`.
    pub(super) fn new(held: Arc<AtomicUsize>) -> Self {
        Self {
            map: IndexMap::default(),
            cursor: 0,
            rest_until: NEVER,
            pass_earliest: NEVER,
            held,
        }
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.map.len()
    }

    /// An entry now expires at `expires_at`: the sweep must not rest past it.
    fn note_expiry(&mut self, expires_at: Timestamp) {
        self.rest_until = self.rest_until.min(expires_at);
        self.pass_earliest = self.pass_earliest.min(expires_at);
    }

    /// Inserts a new entry. An expired entry under the same id is replaced
    /// and returned; a live one is a collision.
    pub(super) fn insert_new(
        &mut self,
        id: SessionId,
        entry: Entry,
        now: Timestamp,
    ) -> Result<Option<Removed>, StoreError> {
        let expires_at = entry.expires_at;
        let inserted = match self.map.get_mut(&id) {
            Some(existing) if !existing.is_expired(now) => Err(StoreError::Collision),
            Some(existing) => Ok(Some((id, std::mem::replace(existing, entry)))),
            None => {
                self.map.insert(id, entry);
                self.held.fetch_add(1, Ordering::Relaxed);
                Ok(None)
            }
        };
        if inserted.is_ok() {
            self.note_expiry(expires_at);
        }
        inserted
    }

    /// The live entry, or `Err` with the expired entry that was removed.
    pub(super) fn get_live(
        &mut self,
        id: &SessionId,
        now: Timestamp,
    ) -> Result<&Entry, Option<Removed>> {
        let i = self.live_index(id, now)?;
        Ok(&self.map[i])
    }

    /// Runs `change` on the live entry (its expiry may move), or gives
    /// `Err` with the expired entry that was removed.
    pub(super) fn update_live<R>(
        &mut self,
        id: &SessionId,
        now: Timestamp,
        change: impl FnOnce(&mut Entry) -> R,
    ) -> Result<R, Option<Removed>> {
        let i = self.live_index(id, now)?;
        let entry = &mut self.map[i];
        let result = change(entry);
        let expires_at = entry.expires_at;
        self.note_expiry(expires_at);
        Ok(result)
    }

    fn live_index(&mut self, id: &SessionId, now: Timestamp) -> Result<usize, Option<Removed>> {
        match self.map.get_index_of(id) {
            None => Err(None),
            Some(i) if self.map[i].is_expired(now) => Err(self.remove_at(i)),
            Some(i) => Ok(i),
        }
    }

    pub(super) fn peek(&self, id: &SessionId) -> Option<&Entry> {
        self.map.get(id)
    }

    pub(super) fn remove(&mut self, id: &SessionId) -> Option<Removed> {
        let i = self.map.get_index_of(id)?;
        self.remove_at(i)
    }

    fn remove_at(&mut self, i: usize) -> Option<Removed> {
        // swap_remove is O(1); it moves the last entry into `i`, which the
        // sweep cursor may then skip once: harmless, it comes round again,
        // and its expiry counts for this pass.
        let removed = self.map.swap_remove_index(i);
        if removed.is_some() {
            self.held.fetch_sub(1, Ordering::Relaxed);
        }
        if i < self.cursor
            && let Some((_, moved)) = self.map.get_index(i)
        {
            self.pass_earliest = self.pass_earliest.min(moved.expires_at);
        }
        removed
    }

    pub(super) fn live(&self, now: Timestamp) -> impl Iterator<Item = (&SessionId, &Entry)> {
        self.map.iter().filter(move |(_, e)| !e.is_expired(now))
    }

    /// Examines a few entries from the cursor and removes the expired ones;
    /// nothing while no entry can have expired.
    pub(super) fn sweep_step(&mut self, now: Timestamp) -> Vec<Removed> {
        let mut gone = Vec::new();
        if now < self.rest_until {
            return gone;
        }
        for _ in 0..SWEEP_STEP {
            if self.cursor >= self.map.len() {
                // A full pass: rest until the earliest expiry it saw.
                self.cursor = 0;
                self.rest_until = std::mem::replace(&mut self.pass_earliest, NEVER);
                if self.map.is_empty() || now < self.rest_until {
                    break;
                }
            }
            let expires_at = self.map[self.cursor].expires_at;
            if now >= expires_at {
                gone.extend(self.remove_at(self.cursor));
            } else {
                self.pass_earliest = self.pass_earliest.min(expires_at);
                self.cursor += 1;
            }
        }
        gone
    }

    pub(super) fn remove_expired(&mut self, now: Timestamp) -> Vec<Removed> {
        let mut gone = Vec::new();
        let mut earliest = NEVER;
        let mut i = 0;
        while i < self.map.len() {
            let expires_at = self.map[i].expires_at;
            if now >= expires_at {
                gone.extend(self.remove_at(i));
            } else {
                earliest = earliest.min(expires_at);
                i += 1;
            }
        }
        // Every entry was just seen.
        self.rest_until = earliest;
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SessionRecord;

    fn entry(expires_at: u64) -> (SessionId, Entry) {
        let created = Timestamp::from_millis(0);
        let record = SessionRecord::new(
            SessionId::generate(),
            created,
            Timestamp::from_millis(expires_at),
        );
        (record.id, Entry::from_record(&record))
    }

    /// The earliest expiry held, for the invariant the resting relies on.
    fn earliest(shard: &Shard) -> Option<Timestamp> {
        shard.map.values().map(|e| e.expires_at).min()
    }

    #[test]
    fn the_sweep_never_rests_past_an_expiry() {
        // Inserts, changed expiries, removals and sweep steps in a random
        // (seeded) order; after each, no entry expires before the sweep
        // wakes up.
        let mut shard = Shard::default();
        let mut ids = Vec::new();
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut random = |n: u64| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) % n
        };
        let mut now = 1_000;
        for step in 0..50_000 {
            let at = Timestamp::from_millis(now);
            match random(6) {
                0 | 1 => {
                    let (id, e) = entry(now + 100 + random(300));
                    shard.insert_new(id, e, at).expect("fresh id");
                    ids.push(id);
                }
                2 if !ids.is_empty() => {
                    let id = ids.swap_remove(random(ids.len() as u64) as usize);
                    shard.remove(&id);
                }
                3 if !ids.is_empty() => {
                    let id = ids[random(ids.len() as u64) as usize];
                    // Sooner or later than any entry's expiry so far.
                    let expires_at = Timestamp::from_millis(now + 1 + random(500));
                    let _ = shard.update_live(&id, at, |e| e.expires_at = expires_at);
                }
                _ => {
                    now += random(4);
                    shard.sweep_step(Timestamp::from_millis(now));
                }
            }
            if let Some(earliest) = earliest(&shard) {
                assert!(
                    shard.rest_until <= earliest,
                    "step {step}: resting until {:?} past an expiry at {earliest:?}",
                    shard.rest_until
                );
            }
        }
    }

    #[test]
    fn a_resting_sweep_reads_no_entry_and_wakes_for_an_earlier_expiry() {
        let mut shard = Shard::default();
        let (late, e) = entry(1_000);
        shard.insert_new(late, e, Timestamp::EPOCH).unwrap();
        // One pass over the shard, then rest until its earliest expiry.
        shard.sweep_step(Timestamp::from_millis(10));
        shard.sweep_step(Timestamp::from_millis(10));
        let cursor = shard.cursor;
        assert!(shard.sweep_step(Timestamp::from_millis(20)).is_empty());
        assert_eq!(shard.cursor, cursor, "a resting sweep moved");
        // A session written with an earlier expiry wakes it in time.
        let (early, e) = entry(30);
        shard
            .insert_new(early, e, Timestamp::from_millis(20))
            .unwrap();
        let mut gone = Vec::new();
        for _ in 0..4 {
            gone.extend(shard.sweep_step(Timestamp::from_millis(40)));
        }
        assert_eq!(gone.iter().map(|(id, _)| *id).collect::<Vec<_>>(), [early]);
        assert!(shard.peek(&late).is_some());
    }
}
