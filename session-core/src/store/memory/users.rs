//! The per-user index of the memory store.

use std::collections::HashMap;
use std::hash::BuildHasher as _;

use parking_lot::Mutex;

use super::shard::Removed;
use crate::SessionId;

type UserMap = HashMap<Box<str>, Vec<SessionId>>;

/// User id to that user's session ids, sharded like the sessions. Entries of
/// expired or deleted sessions are removed when the session is removed, and
/// any left behind by a race are dropped by the next listing.
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
        let ids = shard.entry(user.into()).or_default();
        if !ids.contains(&id) {
            ids.push(id);
        }
    }

    pub(super) fn ids(&self, user: &str) -> Vec<SessionId> {
        self.shard(user)
            .lock()
            .get(user)
            .cloned()
            .unwrap_or_default()
    }

    pub(super) fn remove_ids(&self, user: &str, ids: &[SessionId]) {
        if ids.is_empty() {
            return;
        }
        let mut shard = self.shard(user).lock();
        if let Some(list) = shard.get_mut(user) {
            list.retain(|id| !ids.contains(id));
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
