//! The [`SessionStore`] contract and the built-in in-memory store.

mod client;
pub mod cookie;
mod error;
pub mod memory;

pub use client::ClientSide;
pub use cookie::CookieStore;
pub use memory::MemoryStore;

pub use error::{BoxError, StoreError};

use async_trait::async_trait;

use crate::{
    Binding, Page, PageRequest, SaveOutcome, SessionId, SessionInfo, SessionPatch, SessionRecord,
    Timestamp,
};

/// What a store can do beyond the required operations. The conformance suite
/// reads it to know which cases apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// `list_for_user` and `delete_for_user` work.
    pub user_index: bool,
    /// `list` works.
    pub listing: bool,
    /// `save` writes only the patched fields, so concurrent saves of different fields merge.
    pub field_patch: bool,
    /// `save` honours `expected_revision`.
    pub compare_and_set: bool,
    /// `rebind` works: a live login's binding (its permissions) changes in
    /// place. A store of your own that claims it (by
    /// [`ALL`](Self::ALL), say) implements [`SessionStore::rebind`], whose
    /// default answers `Unsupported`.
    pub rebind: bool,
    /// The largest record the store accepts, in bytes as it measures them:
    /// the data, the flash and the binding (user id, label, meta,
    /// permissions; see [`Binding::byte_size`](crate::Binding::byte_size))
    /// at least, an encoding may count more. The binding counts because a
    /// login's label and meta may come from clients: a server-side store
    /// that left it out would keep unbounded bytes per session. `create`
    /// and `save` refuse a larger record with [`StoreError::TooLarge`] and
    /// write nothing. `None`: no limit.
    pub max_record_bytes: Option<usize>,
}

impl Capabilities {
    /// Everything, and no size limit.
    pub const ALL: Capabilities = Capabilities {
        user_index: true,
        listing: true,
        field_patch: true,
        compare_and_set: true,
        rebind: true,
        max_record_bytes: None,
    };
}

/// Where sessions live.
///
/// Expiry is part of the contract: a record whose `expires_at` has passed (by
/// the store's clock) is never returned, listed or patched, and the store
/// removes it in time, on access or by a sweep, without anyone asking.
#[async_trait]
pub trait SessionStore: Send + Sync + std::fmt::Debug + 'static {
    /// A short name for logs and errors.
    fn name(&self) -> &'static str;

    /// What the store supports.
    fn capabilities(&self) -> Capabilities;

    /// For stores that keep the whole session in its token (see
    /// [`CookieStore`]): the codec the service seals and opens tokens with.
    /// Server-side stores return `None` (the default).
    fn client_side(&self) -> Option<&dyn ClientSide> {
        None
    }

    /// Inserts a new record; [`StoreError::Collision`] when the id exists
    /// (never overwrites). A store whose client may send a call again after
    /// its reply was lost may answer `Ok` when it finds exactly `record`
    /// already there: that is this create, applied once.
    async fn create(&self, record: &SessionRecord) -> Result<(), StoreError>;

    /// The live record with this id.
    async fn load(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError>;

    /// [`load`](Self::load) at a time the caller already read from the
    /// shared clock, saving a second reading on the hot path. Stores that
    /// check expiry themselves may use `now` instead of their clock.
    async fn load_at(
        &self,
        id: &SessionId,
        now: Timestamp,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let _ = now;
        self.load(id).await
    }

    /// Applies a patch to a live record; never recreates a missing one.
    async fn save(&self, id: &SessionId, patch: &SessionPatch) -> Result<SaveOutcome, StoreError>;

    /// Moves the expiry (and last-seen) of a live record, touching no data.
    ///
    /// `user_id` is the user the session is bound to, when the caller knows
    /// it: a store with a user index moves the session's index entry in the
    /// same step as the record. Stores without an index, or that update it
    /// in one transaction with the record anyway, ignore it; with `None`, a
    /// store with an index finds the user itself.
    async fn touch(
        &self,
        id: &SessionId,
        expires_at: Timestamp,
        last_seen: Timestamp,
        user_id: Option<&str>,
    ) -> Result<SaveOutcome, StoreError>;

    /// Deletes a record; `false` when there was none.
    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError>;

    /// A user's live sessions, most recently used first (see
    /// [`sort_most_recent_first`](crate::record::sort_most_recent_first)).
    async fn list_for_user(&self, user_id: &str) -> Result<Vec<SessionInfo>, StoreError> {
        let _ = user_id;
        Err(self.unsupported("list_for_user"))
    }

    /// Deletes a user's sessions except `keep`; returns how many were deleted.
    async fn delete_for_user(
        &self,
        user_id: &str,
        keep: Option<&SessionId>,
    ) -> Result<usize, StoreError> {
        let _ = (user_id, keep);
        Err(self.unsupported("delete_for_user"))
    }

    /// Replaces the binding of live session `id` with `binding`, which
    /// names the same user as the stored one: a login's permissions (or
    /// label, meta) change without logging the user out. The data, flash,
    /// expiry, revision and the user index stay as they are. `Ok(false)`,
    /// with nothing written, when the session is missing or expired, is a
    /// moved marker, is anonymous, or is bound to another user. A record the
    /// new binding takes over the size limit is refused with
    /// [`StoreError::TooLarge`], nothing written; a store whose limit can be
    /// lowered between runs should still take a binding that leaves a
    /// record stored over it smaller (permissions taken away).
    async fn rebind(&self, id: &SessionId, binding: &Binding) -> Result<bool, StoreError> {
        let _ = (id, binding);
        Err(self.unsupported("rebind"))
    }

    /// Every live record, a page at a time: the markers of moved sessions
    /// too ([`SessionInfo::is_moved_marker`], left out by
    /// [`SessionService::list`](crate::SessionService::list)). A session live for the whole
    /// listing is on some page. A store that pages by scanning a hash table
    /// (Redis's `SCAN`) may list it again on a later page when the table
    /// shrinks in between (or a cluster reshards), so callers that count
    /// sessions should collect ids; the memory and file stores list each
    /// once.
    async fn list(&self, page: PageRequest) -> Result<Page<SessionInfo>, StoreError> {
        let _ = page;
        Err(self.unsupported("list"))
    }

    /// The `Unsupported` error for `operation`.
    fn unsupported(&self, operation: &'static str) -> StoreError {
        StoreError::Unsupported {
            store: self.name(),
            operation,
        }
    }
}
