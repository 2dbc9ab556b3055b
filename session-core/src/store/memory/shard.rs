//! One shard of the memory store.

use indexmap::IndexMap;

use super::entry::Entry;
use super::hasher::BuildIdHasher;
use crate::store::StoreError;
use crate::{SessionId, Timestamp};

/// Entries examined by the sweep step that runs with each write.
const SWEEP_STEP: usize = 2;

/// A removed entry with its id (the user index needs both).
pub(super) type Removed = (SessionId, Entry);

#[derive(Default)]
pub(super) struct Shard {
    // IndexMap so the sweep can walk entries by position without a second structure.
    map: IndexMap<SessionId, Entry, BuildIdHasher>,
    cursor: usize,
}

impl Shard {
    pub(super) fn len(&self) -> usize {
        self.map.len()
    }

    /// Inserts a new entry. An expired entry under the same id is replaced
    /// and returned; a live one is a collision.
    pub(super) fn insert_new(
        &mut self,
        id: SessionId,
        entry: Entry,
        now: Timestamp,
    ) -> Result<Option<Removed>, StoreError> {
        match self.map.get_mut(&id) {
            Some(existing) if !existing.is_expired(now) => Err(StoreError::Collision),
            Some(existing) => Ok(Some((id, std::mem::replace(existing, entry)))),
            None => {
                self.map.insert(id, entry);
                Ok(None)
            }
        }
    }

    /// The live entry, or `Err` with the expired entry that was removed.
    pub(super) fn get_live_mut(
        &mut self,
        id: &SessionId,
        now: Timestamp,
    ) -> Result<&mut Entry, Option<Removed>> {
        match self.map.get_index_of(id) {
            None => Err(None),
            Some(i) if self.map[i].is_expired(now) => Err(self.remove_at(i)),
            Some(i) => Ok(&mut self.map[i]),
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
        // sweep cursor may then skip once: harmless, it comes round again.
        self.map.swap_remove_index(i)
    }

    pub(super) fn live(&self, now: Timestamp) -> impl Iterator<Item = (&SessionId, &Entry)> {
        self.map.iter().filter(move |(_, e)| !e.is_expired(now))
    }

    /// Examines a few entries from the cursor and removes the expired ones.
    pub(super) fn sweep_step(&mut self, now: Timestamp) -> Vec<Removed> {
        let mut gone = Vec::new();
        for _ in 0..SWEEP_STEP {
            if self.map.is_empty() {
                break;
            }
            if self.cursor >= self.map.len() {
                self.cursor = 0;
            }
            if self.map[self.cursor].is_expired(now) {
                gone.extend(self.remove_at(self.cursor));
            } else {
                self.cursor += 1;
            }
        }
        gone
    }

    pub(super) fn remove_expired(&mut self, now: Timestamp) -> Vec<Removed> {
        let mut gone = Vec::new();
        let mut i = 0;
        while i < self.map.len() {
            if self.map[i].is_expired(now) {
                gone.extend(self.remove_at(i));
            } else {
                i += 1;
            }
        }
        gone
    }
}
