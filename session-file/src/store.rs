//! [`FileStore`]: the handle, its shared state and the [`SessionStore`] impl.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;
use session_core::clock::SharedClock;
use session_core::{
    Binding, Capabilities, Page, PageRequest, SaveOutcome, SessionId, SessionInfo, SessionPatch,
    SessionRecord, SessionStore, StoreError, Timestamp,
};

use crate::builder::FileStoreBuilder;
use crate::cleanup::Cleanup;
use crate::database::Database;
use crate::error::OpenError;
use crate::group::CommitGroup;
use crate::report::{CheckReport, RepairReport, StoreStats, SweepReport};

/// Sessions in one local database file: they survive a restart of the app.
///
/// Built on [`redb`], an embedded ACID key-value store: every write updates
/// the record and its expiry and user index entries together, in one
/// transaction (shared with the writes that arrived beside it: one disk
/// flush for all), and is on disk before the call returns, so a crash (even a
/// `SIGKILL` or a power cut) never leaves a half-written record or an index out
/// of step with it. Opening the same file again gives back every live session.
///
/// - Expiry: a record whose `expires_at` has passed by the store's clock is
///   never returned, listed or patched. A background [`Cleanup`] thread
///   (started by [`open`](Self::open), configurable with the
///   [builder](Self::builder)) deletes expired records through the expiry
///   index, so it reads only what has expired; `save`, `touch` and `rebind`
///   also delete an expired record they meet.
/// - Per-user listing and revocation read the user index: their cost grows
///   with that user's sessions only.
/// - Concurrent patches of different fields merge: each save reads, patches
///   and writes the record inside one write transaction.
/// - A record that does not decode is reported as [`StoreError::Corrupt`] by
///   `load`, skipped (and logged) by listings, and never overwritten by `create`.
/// - A failed disk access is [`StoreError::Unavailable`] for the call that met
///   it; the store then opens its file again by itself (see the
///   [crate docs](crate#disk-errors)), with no restart.
///
/// The database calls are blocking; the async methods run them on tokio's
/// blocking pool, so they need a tokio runtime (outside one they fail with
/// [`StoreError::Unavailable`], except a `load` while the file is open).
/// A session write waits for its shared commit without holding a thread. A
/// `load` runs on the calling task, as its pages are almost always cached
/// (see [`FileStoreBuilder::loads_on_blocking_pool`]). Clones share one database.
/// One process (one store) may have a file open at a time: a second open fails
/// with [`OpenError::Locked`]. The file closes when the last clone (and any
/// [`Cleanup`] handle from [`start_cleanup`](Self::start_cleanup)) is dropped
/// and the calls already running on the blocking pool have ended (a call
/// whose future was dropped, by a timeout say, still runs to its end there);
/// it can then be opened again at once. The file is not to be copied, moved
/// or replaced while the store has it open (see the
/// [crate docs](crate#copying-moving-and-backing-up-the-file)).
#[derive(Clone)]
pub struct FileStore {
    // Declared first, so dropped first: the last handle stops the cleanup
    // thread (which holds the database) before the database closes.
    pub(crate) cleanup: Arc<Mutex<Option<Cleanup>>>,
    pub(crate) inner: Arc<Inner>,
}

/// The state every clone of a [`FileStore`] shares.
pub(crate) struct Inner {
    pub(crate) db: Database,
    /// Writes waiting to share the next commit.
    pub(crate) group: CommitGroup,
    pub(crate) clock: SharedClock,
    pub(crate) max_record_bytes: usize,
    /// Records held at most before anonymous creates are refused.
    pub(crate) max_sessions: Option<u64>,
    /// Whether a load runs on the calling task while the file is open.
    pub(crate) loads_here: bool,
    pub(crate) path: PathBuf,
}

impl FileStore {
    /// Opens (creating when missing, with its parent directories) the database
    /// at `path`, on the system clock, with a cleanup thread sweeping every
    /// [`DEFAULT_CLEANUP_INTERVAL`](crate::DEFAULT_CLEANUP_INTERVAL).
    ///
    /// This blocks while the file is opened (and checked; see
    /// [`FileStoreBuilder::check_integrity_on_open`]).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, OpenError> {
        Self::builder(path).open()
    }

    /// A builder for a store at `path`, to set the clock, cleanup interval and limits.
    pub fn builder(path: impl AsRef<Path>) -> FileStoreBuilder {
        FileStoreBuilder::new(path)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The largest encoded record accepted, in bytes.
    pub fn max_record_bytes(&self) -> usize {
        self.inner.max_record_bytes
    }

    /// The current time by the store's clock.
    pub fn now(&self) -> Timestamp {
        self.inner.now()
    }

    /// Deletes every expired record now, through the expiry index, a bounded
    /// batch per transaction.
    pub async fn sweep_expired(&self) -> Result<SweepReport, StoreError> {
        self.blocking(|inner| inner.sweep_all(|| false)).await
    }

    /// Entry counts of the record table and both indexes (no scan).
    pub async fn stats(&self) -> Result<StoreStats, StoreError> {
        self.blocking(Inner::stats).await
    }

    /// Reads every record and index entry and reports what does not decode or
    /// does not match. This scans the whole file: a diagnostic, not for requests.
    pub async fn check(&self) -> Result<CheckReport, StoreError> {
        self.blocking(Inner::check).await
    }

    /// Rebuilds the expiry and user indexes from the records, for a file
    /// whose records changed outside the store (restored, or edited by hand)
    /// and where [`check`](Self::check) reports missing index entries: until
    /// then such a record escapes its user's revoke-all and the cleanup.
    /// One write transaction over the whole file, so other writes wait for it.
    pub async fn repair_indexes(&self) -> Result<RepairReport, StoreError> {
        self.blocking(Inner::repair_indexes).await
    }

    /// Starts a cleanup thread sweeping every `interval` and returns its
    /// handle; it stops when the handle is stopped or dropped, and keeps the
    /// database open until then. Independent of the one the builder starts.
    pub fn start_cleanup(&self, interval: Duration) -> io::Result<Cleanup> {
        Cleanup::start(Arc::clone(&self.inner), interval)
    }

    /// Stops the cleanup thread the builder started (if it runs) and waits for
    /// it; returns whether one was running. Blocks for at most one sweep batch.
    pub fn stop_cleanup(&self) -> bool {
        let cleanup = self.cleanup.lock().take();
        match cleanup {
            Some(cleanup) => {
                cleanup.stop();
                true
            }
            None => false,
        }
    }

    /// Whether the cleanup thread the builder started is running: until it
    /// is stopped, even after a sweep that failed or panicked (see [`Cleanup`]).
    pub fn cleanup_running(&self) -> bool {
        self.cleanup
            .lock()
            .as_ref()
            .is_some_and(Cleanup::is_running)
    }

    /// Runs `f` on the blocking pool with the shared state.
    async fn blocking<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        on_blocking_pool(move || f(&inner)).await
    }
}

/// Runs `f` on tokio's blocking pool. Its captures are dropped there before
/// this returns, so a call holds no reference to the store once answered.
pub(crate) async fn on_blocking_pool<T, F>(f: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
{
    runtime()?
        .spawn_blocking(f)
        .await
        .map_err(StoreError::unavailable)?
}

/// The runtime the store's calls run on: their blocking work goes to its
/// pool. Outside one, a call fails instead of panicking.
pub(crate) fn runtime() -> Result<tokio::runtime::Handle, StoreError> {
    tokio::runtime::Handle::try_current().map_err(|error| {
        StoreError::unavailable(format!("the file store needs a tokio runtime: {error}"))
    })
}

impl fmt::Debug for FileStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileStore")
            .field("path", &self.inner.path)
            .field("max_record_bytes", &self.inner.max_record_bytes)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl SessionStore for FileStore {
    fn name(&self) -> &'static str {
        "file"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            max_record_bytes: Some(self.inner.max_record_bytes),
            ..Capabilities::ALL
        }
    }

    async fn create(&self, record: &SessionRecord) -> Result<(), StoreError> {
        self.inner.create(record.clone()).await
    }

    async fn load(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        if self.inner.loads_here
            && let Some(loaded) = self.inner.load_here(id)
        {
            return loaded;
        }
        let id = *id;
        self.blocking(move |inner| inner.load(&id)).await
    }

    async fn save(&self, id: &SessionId, patch: &SessionPatch) -> Result<SaveOutcome, StoreError> {
        self.inner.save(*id, patch.clone()).await
    }

    async fn touch(
        &self,
        id: &SessionId,
        expires_at: Timestamp,
        last_seen: Timestamp,
        // The index is updated in the record's own transaction.
        _user_id: Option<&str>,
    ) -> Result<SaveOutcome, StoreError> {
        self.inner.touch(*id, expires_at, last_seen).await
    }

    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        self.inner.delete(*id).await
    }

    async fn rebind(&self, id: &SessionId, binding: &Binding) -> Result<bool, StoreError> {
        self.inner.rebind(*id, binding.clone()).await
    }

    async fn list_for_user(&self, user_id: &str) -> Result<Vec<SessionInfo>, StoreError> {
        let user = user_id.to_owned();
        self.blocking(move |inner| inner.list_for_user(&user)).await
    }

    async fn delete_for_user(
        &self,
        user_id: &str,
        keep: Option<&SessionId>,
    ) -> Result<usize, StoreError> {
        let (user, keep) = (user_id.to_owned(), keep.copied());
        self.blocking(move |inner| inner.delete_for_user(&user, keep.as_ref()))
            .await
    }

    async fn list(&self, page: PageRequest) -> Result<Page<SessionInfo>, StoreError> {
        self.blocking(move |inner| inner.list(&page)).await
    }
}
