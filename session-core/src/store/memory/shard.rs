//! One shard of the memory store.

use indexmap::IndexMap;

use super::hasher::BuildIdHasher;
use crate::store::StoreError;
use crate::{SessionId, SessionRecord, Timestamp};

/// Entries examined by the sweep step that runs with each write.
const SWEEP_STEP: usize = 2;

#[derive(Default)]
pub(super) struct Shard {
    // IndexMap so the sweep can walk entries by position without a second structure.
    map: IndexMap<SessionId, SessionRecord, BuildIdHasher>,
    cursor: usize,
}

impl Shard {
    pub(super) fn len(&self) -> usize {
        self.map.len()
    }

    /// Inserts a new record. An expired record under the same id is replaced
    /// and returned; a live one is a collision.
    pub(super) fn insert_new(
        &mut self,
        mut record: SessionRecord,
        now: Timestamp,
    ) -> Result<Option<SessionRecord>, StoreError> {
        record.fields.shrink_to_fit();
        record.flash.shrink_to_fit();
        match self.map.get_mut(&record.id) {
            Some(existing) if !existing.is_expired(now) => Err(StoreError::Collision),
            Some(existing) => Ok(Some(std::mem::replace(existing, record))),
            None => {
                self.map.insert(record.id, record);
                Ok(None)
            }
        }
    }

    /// The live record, or `Err` with the expired record that was removed.
    pub(super) fn get_live(
        &mut self,
        id: &SessionId,
        now: Timestamp,
    ) -> Result<&SessionRecord, Option<SessionRecord>> {
        self.get_live_mut(id, now).map(|r| &*r)
    }

    pub(super) fn get_live_mut(
        &mut self,
        id: &SessionId,
        now: Timestamp,
    ) -> Result<&mut SessionRecord, Option<SessionRecord>> {
        match self.map.get_index_of(id) {
            None => Err(None),
            Some(i) if self.map[i].is_expired(now) => Err(self.remove_at(i)),
            Some(i) => Ok(&mut self.map[i]),
        }
    }

    pub(super) fn peek(&self, id: &SessionId) -> Option<&SessionRecord> {
        self.map.get(id)
    }

    pub(super) fn remove(&mut self, id: &SessionId) -> Option<SessionRecord> {
        let i = self.map.get_index_of(id)?;
        self.remove_at(i)
    }

    fn remove_at(&mut self, i: usize) -> Option<SessionRecord> {
        // swap_remove is O(1); it moves the last entry into `i`, which the
        // sweep cursor may then skip once: harmless, it comes round again.
        self.map.swap_remove_index(i).map(|(_, r)| r)
    }

    pub(super) fn live(&self, now: Timestamp) -> impl Iterator<Item = &SessionRecord> {
        self.map.values().filter(move |r| !r.is_expired(now))
    }

    /// Examines a few entries from the cursor and removes the expired ones.
    pub(super) fn sweep_step(&mut self, now: Timestamp) -> Vec<SessionRecord> {
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

    pub(super) fn remove_expired(&mut self, now: Timestamp) -> Vec<SessionRecord> {
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
