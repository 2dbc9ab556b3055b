//! A store kept together with something that must live as long as it (a
//! temporary directory, a server process), for conformance factories.

use async_trait::async_trait;

use crate::store::{Capabilities, ClientSide, SessionStore, StoreError};
use crate::{
    Binding, Page, PageRequest, SaveOutcome, SessionId, SessionInfo, SessionPatch, SessionRecord,
    Timestamp,
};

/// `store`, with `guard` dropped after it.
#[derive(Debug)]
pub struct Guarded<S, G> {
    // Declared first: the store is dropped before its guard.
    store: S,
    _guard: G,
}

impl<S, G> Guarded<S, G> {
    /// Keeps `guard` alive as long as `store`.
    pub fn new(store: S, guard: G) -> Self {
        Self {
            store,
            _guard: guard,
        }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }
}

#[async_trait]
impl<S: SessionStore, G: Send + Sync + std::fmt::Debug + 'static> SessionStore for Guarded<S, G> {
    fn name(&self) -> &'static str {
        self.store.name()
    }

    fn capabilities(&self) -> Capabilities {
        self.store.capabilities()
    }

    fn client_side(&self) -> Option<&dyn ClientSide> {
        self.store.client_side()
    }

    async fn create(&self, record: &SessionRecord) -> Result<(), StoreError> {
        self.store.create(record).await
    }

    async fn load(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        self.store.load(id).await
    }

    async fn load_at(
        &self,
        id: &SessionId,
        now: Timestamp,
    ) -> Result<Option<SessionRecord>, StoreError> {
        self.store.load_at(id, now).await
    }

    async fn save(&self, id: &SessionId, patch: &SessionPatch) -> Result<SaveOutcome, StoreError> {
        self.store.save(id, patch).await
    }

    async fn touch(
        &self,
        id: &SessionId,
        expires_at: Timestamp,
        last_seen: Timestamp,
        user_id: Option<&str>,
    ) -> Result<SaveOutcome, StoreError> {
        self.store.touch(id, expires_at, last_seen, user_id).await
    }

    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        self.store.delete(id).await
    }

    async fn rebind(&self, id: &SessionId, binding: &Binding) -> Result<bool, StoreError> {
        self.store.rebind(id, binding).await
    }

    async fn list_for_user(&self, user_id: &str) -> Result<Vec<SessionInfo>, StoreError> {
        self.store.list_for_user(user_id).await
    }

    async fn delete_for_user(
        &self,
        user_id: &str,
        keep: Option<&SessionId>,
    ) -> Result<usize, StoreError> {
        self.store.delete_for_user(user_id, keep).await
    }

    async fn list(&self, page: PageRequest) -> Result<Page<SessionInfo>, StoreError> {
        self.store.list(page).await
    }
}
