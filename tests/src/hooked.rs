//! A store that forwards every call to another and lets a test act once
//! the calls it cares about returned: hold one, note what it did, or run
//! another request in between.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use session_axum::async_trait;
use session_core::{
    Capabilities, Page, PageRequest, SaveOutcome, SessionId, SessionInfo, SessionPatch,
    SessionRecord, SessionStore, StoreError, Timestamp,
};

/// What a test does after a call of a [`Hooked`] store returned; every
/// hook does nothing unless overridden.
#[async_trait]
pub trait After: Send + Sync + 'static {
    /// After `create(record)` returned, whatever it answered.
    async fn created(&self, record: &SessionRecord) {
        let _ = record;
    }

    /// After `save(id, patch)` answered `outcome`.
    async fn saved(&self, id: &SessionId, patch: &SessionPatch, outcome: &SaveOutcome) {
        let _ = (id, patch, outcome);
    }

    /// After `list_for_user(user_id)` returned, whatever it answered.
    async fn listed_for_user(&self, user_id: &str) {
        let _ = user_id;
    }

    /// After `delete(id)` returned, whatever it answered.
    async fn deleted(&self, id: &SessionId) {
        let _ = id;
    }

    /// After `rebind(id, ..)` returned, whatever it answered.
    async fn rebound(&self, id: &SessionId) {
        let _ = id;
    }

    /// After `delete_for_user(user_id, ..)` returned, whatever it answered.
    async fn deleted_for_user(&self, user_id: &str) {
        let _ = user_id;
    }
}

/// `inner` with `after` run once the calls it hooks returned.
pub struct Hooked<A> {
    inner: Arc<dyn SessionStore>,
    after: A,
}

impl<A: After> Hooked<A> {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn SessionStore>, after: A) -> Self {
        Self { inner, after }
    }
}

impl<A> std::fmt::Debug for Hooked<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Hooked").field(&self.inner).finish()
    }
}

#[async_trait]
impl<A: After> SessionStore for Hooked<A> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn create(&self, record: &SessionRecord) -> Result<(), StoreError> {
        let created = self.inner.create(record).await;
        self.after.created(record).await;
        created
    }
    async fn load(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        self.inner.load(id).await
    }
    async fn rebind(
        &self,
        id: &SessionId,
        binding: &session_core::Binding,
    ) -> Result<bool, StoreError> {
        let rebound = self.inner.rebind(id, binding).await;
        self.after.rebound(id).await;
        rebound
    }
    async fn load_at(
        &self,
        id: &SessionId,
        now: Timestamp,
    ) -> Result<Option<SessionRecord>, StoreError> {
        self.inner.load_at(id, now).await
    }
    async fn save(&self, id: &SessionId, patch: &SessionPatch) -> Result<SaveOutcome, StoreError> {
        let outcome = self.inner.save(id, patch).await?;
        self.after.saved(id, patch, &outcome).await;
        Ok(outcome)
    }
    async fn touch(
        &self,
        id: &SessionId,
        expires_at: Timestamp,
        last_seen: Timestamp,
        user_id: Option<&str>,
    ) -> Result<SaveOutcome, StoreError> {
        self.inner.touch(id, expires_at, last_seen, user_id).await
    }
    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        let deleted = self.inner.delete(id).await;
        self.after.deleted(id).await;
        deleted
    }
    async fn list_for_user(&self, user_id: &str) -> Result<Vec<SessionInfo>, StoreError> {
        let listed = self.inner.list_for_user(user_id).await;
        self.after.listed_for_user(user_id).await;
        listed
    }
    async fn delete_for_user(
        &self,
        user_id: &str,
        keep: Option<&SessionId>,
    ) -> Result<usize, StoreError> {
        let deleted = self.inner.delete_for_user(user_id, keep).await;
        self.after.deleted_for_user(user_id).await;
        deleted
    }
    async fn list(&self, page: PageRequest) -> Result<Page<SessionInfo>, StoreError> {
        self.inner.list(page).await
    }
}

/// Work a test runs once, from inside a hook: another request's, landing
/// between two of the calls under test.
#[derive(Clone, Default)]
pub struct OnceHook(Arc<Mutex<Option<Work>>>);

type Work = Pin<Box<dyn Future<Output = ()> + Send>>;

impl OnceHook {
    /// Sets the work to run.
    pub fn set(&self, work: impl Future<Output = ()> + Send + 'static) {
        *self.0.lock().unwrap() = Some(Box::pin(work));
    }

    /// Runs the work, the first time only.
    pub async fn run(&self) {
        let work = self.0.lock().unwrap().take();
        if let Some(work) = work {
            work.await;
        }
    }
}
