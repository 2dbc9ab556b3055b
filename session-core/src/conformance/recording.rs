//! A store wrapper that records every call and can be told to fail, for tests
//! that check what the service wrote.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use parking_lot::Mutex;

use crate::store::{Capabilities, SessionStore, StoreError};
use crate::{
    Binding, Page, PageRequest, SaveOutcome, SessionId, SessionInfo, SessionPatch, SessionRecord,
    Timestamp,
};

/// One recorded store call.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreOp {
    /// `create` of this record.
    Create(SessionRecord),
    /// `load` of this id.
    Load(SessionId),
    /// `save` of this patch.
    Save(SessionId, SessionPatch),
    /// `touch` to this expiry, with the user the caller named.
    Touch(SessionId, Timestamp, Option<String>),
    /// `delete` of this id.
    Delete(SessionId),
    /// `rebind` of this id to this binding.
    Rebind(SessionId, Binding),
    /// `list_for_user`.
    ListForUser(String),
    /// `delete_for_user`.
    DeleteForUser(String, Option<SessionId>),
    /// `list`.
    List,
}

impl StoreOp {
    /// Whether the call writes.
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Self::Create(_)
                | Self::Save(..)
                | Self::Touch(..)
                | Self::Delete(_)
                | Self::Rebind(..)
                | Self::DeleteForUser(..)
        )
    }
}

/// Wraps a store, records its calls and fails on demand.
#[derive(Clone)]
pub struct RecordingStore<S> {
    inner: Arc<S>,
    ops: Arc<Mutex<Vec<StoreOp>>>,
    fail_all: Arc<AtomicBool>,
    fail_deletes: Arc<AtomicBool>,
    fail_creates: Arc<AtomicBool>,
    fail_saves: Arc<AtomicBool>,
}

impl<S: SessionStore> RecordingStore<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self {
            inner: Arc::new(inner),
            ops: Default::default(),
            fail_all: Default::default(),
            fail_deletes: Default::default(),
            fail_creates: Default::default(),
            fail_saves: Default::default(),
        }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The calls so far.
    pub fn ops(&self) -> Vec<StoreOp> {
        self.ops.lock().clone()
    }

    /// The writing calls so far.
    pub fn writes(&self) -> Vec<StoreOp> {
        self.ops
            .lock()
            .iter()
            .filter(|o| o.is_write())
            .cloned()
            .collect()
    }

    /// Forgets the recorded calls.
    pub fn clear(&self) {
        self.ops.lock().clear();
    }

    /// Makes every call fail with `Unavailable` (a store outage) or work again.
    pub fn set_down(&self, down: bool) {
        self.fail_all.store(down, Ordering::SeqCst);
    }

    /// Makes `delete` fail.
    pub fn fail_deletes(&self, fail: bool) {
        self.fail_deletes.store(fail, Ordering::SeqCst);
    }

    /// Makes `create` fail.
    pub fn fail_creates(&self, fail: bool) {
        self.fail_creates.store(fail, Ordering::SeqCst);
    }

    /// Makes `save` fail.
    pub fn fail_saves(&self, fail: bool) {
        self.fail_saves.store(fail, Ordering::SeqCst);
    }

    fn record(&self, op: StoreOp, extra_failure: &AtomicBool) -> Result<(), StoreError> {
        self.ops.lock().push(op);
        if self.fail_all.load(Ordering::SeqCst) || extra_failure.load(Ordering::SeqCst) {
            return Err(StoreError::unavailable("injected outage"));
        }
        Ok(())
    }
}

impl<S> fmt::Debug for RecordingStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordingStore").finish_non_exhaustive()
    }
}

#[async_trait]
impl<S: SessionStore> SessionStore for RecordingStore<S> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn create(&self, record: &SessionRecord) -> Result<(), StoreError> {
        self.record(StoreOp::Create(record.clone()), &self.fail_creates)?;
        self.inner.create(record).await
    }

    async fn load(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        self.record(StoreOp::Load(*id), &AtomicBool::new(false))?;
        self.inner.load(id).await
    }

    async fn save(&self, id: &SessionId, patch: &SessionPatch) -> Result<SaveOutcome, StoreError> {
        self.record(StoreOp::Save(*id, patch.clone()), &self.fail_saves)?;
        self.inner.save(id, patch).await
    }

    async fn touch(
        &self,
        id: &SessionId,
        expires_at: Timestamp,
        last_seen: Timestamp,
        user_id: Option<&str>,
    ) -> Result<SaveOutcome, StoreError> {
        let op = StoreOp::Touch(*id, expires_at, user_id.map(str::to_owned));
        self.record(op, &AtomicBool::new(false))?;
        self.inner.touch(id, expires_at, last_seen, user_id).await
    }

    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        self.record(StoreOp::Delete(*id), &self.fail_deletes)?;
        self.inner.delete(id).await
    }

    async fn rebind(&self, id: &SessionId, binding: &Binding) -> Result<bool, StoreError> {
        let op = StoreOp::Rebind(*id, binding.clone());
        self.record(op, &self.fail_saves)?;
        self.inner.rebind(id, binding).await
    }

    async fn list_for_user(&self, user_id: &str) -> Result<Vec<SessionInfo>, StoreError> {
        self.record(
            StoreOp::ListForUser(user_id.into()),
            &AtomicBool::new(false),
        )?;
        self.inner.list_for_user(user_id).await
    }

    async fn delete_for_user(
        &self,
        user_id: &str,
        keep: Option<&SessionId>,
    ) -> Result<usize, StoreError> {
        self.record(
            StoreOp::DeleteForUser(user_id.into(), keep.copied()),
            &self.fail_deletes,
        )?;
        self.inner.delete_for_user(user_id, keep).await
    }

    async fn list(&self, page: PageRequest) -> Result<Page<SessionInfo>, StoreError> {
        self.record(StoreOp::List, &AtomicBool::new(false))?;
        self.inner.list(page).await
    }
}
