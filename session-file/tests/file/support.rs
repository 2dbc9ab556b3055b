//! A store on its own temporary file, and record helpers.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use session_core::{
    Binding, Capabilities, MockClock, Page, PageRequest, SaveOutcome, SessionId, SessionInfo,
    SessionPatch, SessionRecord, SessionStore, StoreError, Timestamp,
};
use session_file::FileStore;
use tempfile::TempDir;

pub const HOUR: Duration = Duration::from_secs(3600);

/// A [`FileStore`] on a file in its own temporary directory, removed on drop.
#[derive(Debug)]
pub struct TempStore {
    // Declared first: the store closes before the directory is removed.
    pub store: FileStore,
    _dir: TempDir,
}

impl TempStore {
    /// A store on `clock` with the default cleanup thread.
    pub fn open(clock: MockClock) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = FileStore::builder(dir.path().join("sessions.redb"))
            .clock(Arc::new(clock))
            .open()
            .expect("open store");
        Self { store, _dir: dir }
    }
}

/// A fresh temporary directory and the database path inside it.
pub fn temp_path() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sessions.redb");
    (dir, path)
}

/// A store at `path` on `clock`, without a cleanup thread.
pub fn open_at(path: &std::path::Path, clock: &MockClock) -> FileStore {
    FileStore::builder(path)
        .clock(Arc::new(clock.clone()))
        .without_cleanup()
        .open()
        .expect("open store")
}

/// A record living for `life`, optionally bound to `user`.
pub fn record(now: Timestamp, life: Duration, user: Option<&str>) -> SessionRecord {
    let mut r = SessionRecord::new(SessionId::generate(), now, now.plus(life));
    r.fields = [("count", "1"), ("name", "\"ada\"")].into_iter().collect();
    r.binding = user.map(|u| Box::new(Binding::user(u).with_label("laptop")));
    r
}

/// A patch setting one field.
pub fn set_field(now: Timestamp, name: &str, value: &str) -> SessionPatch {
    SessionPatch {
        set_fields: [(name, value)].into_iter().collect(),
        last_seen: now,
        ..SessionPatch::default()
    }
}

#[async_trait]
impl SessionStore for TempStore {
    fn name(&self) -> &'static str {
        self.store.name()
    }

    fn capabilities(&self) -> Capabilities {
        self.store.capabilities()
    }

    async fn create(&self, record: &SessionRecord) -> Result<(), StoreError> {
        self.store.create(record).await
    }

    async fn load(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        self.store.load(id).await
    }

    async fn save(&self, id: &SessionId, patch: &SessionPatch) -> Result<SaveOutcome, StoreError> {
        self.store.save(id, patch).await
    }

    async fn touch(
        &self,
        id: &SessionId,
        expires_at: Timestamp,
        last_seen: Timestamp,
    ) -> Result<SaveOutcome, StoreError> {
        self.store.touch(id, expires_at, last_seen).await
    }

    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        self.store.delete(id).await
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
