//! The per-user index of the memory store.

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher as _;

use parking_lot::Mutex;

use super::hasher::BuildIdHasher;
use super::shard::Removed;
use crate::SessionId;

/// A set per user, so that adding or removing one id costs the same however
/// many sessions the user has (the lock is shared with other users).
type UserMap = HashMap<Box<str>, HashSet<SessionId, BuildIdHasher>>;

/// User id to that user's session ids, sharded like the sessions. Entries of
/// expired or deleted sessions are removed when the session is removed, and
/// any left behind are dropped by the next listing.
///
/// An id's entry changes only while the lock of that session's shard is
/// held, so it always follows the record: a listing or a revocation that
/// finds no live record and drops the entry cannot drop the entry of a
/// create of the same id that ran in between. Locks are taken in that
/// order, a session shard and then a user shard, never the other way.
pub(super) struct UserIndex {
    shards: Box<[Mutex<UserMap>]>,
    hasher: std::collections::hash_map::RandomState,
}

impl UserIndex {
    pub(super) fn new(shards: usize) -> Self {
        Self {
            shards: (0..shards).map(|_| Mutex::new(UserMap::new())).collect(),
            hasher: Default::default(),
        }
    }

    fn shard(&self, user: &str) -> &Mutex<UserMap> {
        let hash = self.hasher.hash_one(user);
        let index = usize::try_from(hash).unwrap_or(0) % self.shards.len();
        &self.shards[index]
    }

    pub(super) fn add(&self, user: &str, id: SessionId) {
        let mut shard = self.shard(user).lock();
        shard.entry(user.into()).or_default().insert(id);
    }

    pub(super) fn ids(&self, user: &str) -> Vec<SessionId> {
        self.shard(user)
            .lock()
            .get(user)
            .map(|ids| ids.iter().copied().collect())
            .unwrap_or_default()
    }

    pub(super) fn remove_ids(&self, user: &str, ids: &[SessionId]) {
        if ids.is_empty() {
            return;
        }
        let mut shard = self.shard(user).lock();
        if let Some(list) = shard.get_mut(user) {
            for id in ids {
                list.remove(id);
            }
            if list.is_empty() {
                shard.remove(user);
            }
        }
    }

    pub(super) fn forget(&self, (id, entry): &Removed) {
        if let Some(user) = entry.user_id() {
            self.remove_ids(user, &[*id]);
        }
    }

    pub(super) fn forget_all(&self, removed: &[Removed]) {
        for r in removed {
            self.forget(r);
        }
    }
}
