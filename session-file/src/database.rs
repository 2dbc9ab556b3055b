//! The open database file, and reopening it after an I/O error.
//!
//! After one failed read, write or flush, redb answers every later call with
//! `PreviousIo` until the database is closed and opened again. [`Database`]
//! does that, so a transient disk error (a full disk, a dropped network
//! mount) is an outage only while it lasts: the handle that failed is set
//! aside, and the next call opens the file again, which rolls it back to its
//! last commit. While the file cannot be opened, and while it is being
//! opened again, calls fail fast with [`StoreError::Unavailable`]; a new
//! attempt is made at most once per reopen interval, and a file opened
//! again is not opened once more before the interval has passed. Opening
//! again never creates the file: a missing file (a mount gone) is an
//! outage, not an empty store.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use redb::ReadableTable;
use session_core::StoreError;

use crate::error::{OpenError, Reopening, open_error, panic_message};
use crate::recovery::{LeftOpen, RepairWatch};
use crate::tables::{EXPIRY, LAYOUT, LAYOUT_KEY, LAYOUT_VERSION, SESSIONS, USERS};

/// How long a store closed by an I/O error waits between attempts to open
/// its file again, by default.
pub const DEFAULT_REOPEN_INTERVAL: Duration = Duration::from_secs(1);

/// Wait before the next attempt when the file is still locked, most likely
/// by a call finishing on the handle that failed. Once the file has been
/// locked for a whole reopen interval, something else holds it (another
/// process), and attempts fall back to the reopen interval.
const LOCKED_RETRY: Duration = Duration::from_millis(10);

/// How the file is opened, the first time and after an I/O error.
#[derive(Debug, Clone)]
pub(crate) struct OpenOptions {
    pub(crate) cache_bytes: usize,
    pub(crate) check_integrity: bool,
    pub(crate) reopen_interval: Duration,
    /// Whether the first open compacts the file (never an open after an
    /// I/O error: the store is serving then, and waits on it).
    pub(crate) compact_on_open: bool,
}

/// The database handle every operation borrows, replaced after an I/O error.
pub(crate) struct Database {
    path: PathBuf,
    options: OpenOptions,
    state: RwLock<State>,
}

enum State {
    Open(Arc<Handle>),
    /// Closed after an I/O error at `since`; the next attempt to open may
    /// start at `retry_at`.
    Closed {
        retry_at: Instant,
        since: Instant,
    },
    /// One call is opening the file again, without the lock held (opening
    /// may repair and check the whole file).
    Opening,
}

impl Database {
    /// Opens the file at `path` (created when missing) and checks its layout.
    /// A file that a first start left as zeros, before the engine wrote its
    /// header, gets a new database (see [`crate::unwritten`]). Compacts it
    /// when the options say so; a compaction that fails is logged, and the
    /// file opened again as it is.
    pub(crate) fn open(path: PathBuf, options: OpenOptions) -> Result<Self, OpenError> {
        let mut db = match open_file(&path, &options, Create::IfMissing) {
            Err(refused @ OpenError::Database { .. }) => {
                create_in_unwritten(&path, &options, refused)?
            }
            opened => opened?,
        };
        if options.compact_on_open && !crate::compaction::compact(&mut db, &path) {
            drop(Handle::new(db));
            db = open_file(&path, &options, Create::Never)?;
        }
        Ok(Self {
            path,
            options,
            state: RwLock::new(State::Open(Arc::new(Handle::new(db)))),
        })
    }

    /// Runs `f` on the open database (opening the file again first when an
    /// I/O error closed it and the reopen interval has passed), and sets the
    /// handle aside when `f` fails in a way only a reopen mends (see
    /// [`needs_reopen`]), so the next call opens the file again.
    ///
    /// A panic in `f` goes on to the caller. When it leaves one of the
    /// engine's locks poisoned (a panic inside the engine), the handle is set
    /// aside too: its writes would panic on that lock, and its reads fail,
    /// until the file is opened again.
    pub(crate) fn run<T>(
        &self,
        f: impl FnOnce(&redb::Database) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let db = self.handle()?;
        self.run_on(&db, f)
    }

    /// Opens the file again when an I/O error closed it and the reopen
    /// interval has passed, as [`run`](Self::run) would; fails fast while it
    /// cannot. Session writes call this before they queue for a shared
    /// commit, so that no commit waits for the file to be opened.
    pub(crate) fn ready(&self) -> Result<(), StoreError> {
        self.handle().map(drop)
    }

    /// [`run`](Self::run) on the handle that is open now, without ever
    /// opening the file: while it is closed, fails fast. The leader of a
    /// shared commit runs it so, holding the writers queued behind it.
    pub(crate) fn run_open<T>(
        &self,
        f: impl FnOnce(&redb::Database) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match self.open_handle() {
            Some(db) => self.run_on(&db, f),
            None => Err(self.reopening()),
        }
    }

    /// [`run_open`](Self::run_open) for a short read on the caller's own
    /// thread, an async task's: `None` while the file is closed or being
    /// opened, so the caller goes on to the blocking pool, where opening it
    /// may run. A panic in `f` is answered `Unavailable` instead of
    /// unwinding through the caller's task, as the blocking pool answers one.
    pub(crate) fn run_here<T>(
        &self,
        f: impl FnOnce(&redb::Database) -> Result<T, StoreError>,
    ) -> Option<Result<T, StoreError>> {
        let db = self.open_handle()?;
        let run = std::panic::catch_unwind(AssertUnwindSafe(|| self.run_on(&db, f)));
        Some(run.unwrap_or_else(|panic| {
            Err(StoreError::unavailable(format!(
                "a session store read panicked: {}",
                panic_message(&*panic)
            )))
        }))
    }

    /// Whether the file is open now (not closed after an I/O error, nor
    /// being opened again).
    pub(crate) fn is_open(&self) -> bool {
        matches!(&*self.state.read(), State::Open(_))
    }

    /// Puts `db` (on a test's storage backend) in place of the open file.
    #[cfg(test)]
    pub(crate) fn replace_for_test(&self, db: redb::Database) {
        *self.state.write() = State::Open(Arc::new(Handle::new(db)));
    }

    fn open_handle(&self) -> Option<Arc<Handle>> {
        match &*self.state.read() {
            State::Open(db) => Some(Arc::clone(db)),
            State::Closed { .. } | State::Opening => None,
        }
    }

    fn run_on<T>(
        &self,
        db: &Arc<Handle>,
        f: impl FnOnce(&redb::Database) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let result = match std::panic::catch_unwind(AssertUnwindSafe(|| f(db))) {
            Ok(result) => result,
            Err(panic) => {
                if let Some(error) = poisoned(db) {
                    self.set_aside(db, &error);
                }
                std::panic::resume_unwind(panic)
            }
        };
        if let Err(error) = &result
            && needs_reopen(error)
        {
            self.set_aside(db, error);
        }
        result
    }

    fn handle(&self) -> Result<Arc<Handle>, StoreError> {
        match self.open_handle() {
            Some(db) => Ok(db),
            None => self.reopen(),
        }
    }

    fn set_aside(&self, db: &Arc<Handle>, error: &StoreError) {
        let mut state = self.state.write();
        if matches!(&*state, State::Open(current) if Arc::ptr_eq(current, db)) {
            let now = Instant::now();
            // A file opened again that fails again soon (a disk still full)
            // waits out the interval: opening it on every call costs a
            // recovery each time and floods the log.
            let retry_at = match db.reopened_at {
                Some(at) => later_than(at, self.options.reopen_interval).max(now),
                None => now,
            };
            tracing::warn!(path = %self.path.display(), %error,
                retry_in = ?retry_at.saturating_duration_since(now),
                "session database failed; closing it to open it again");
            *state = State::Closed {
                retry_at,
                since: now,
            };
        }
    }

    fn reopen(&self) -> Result<Arc<Handle>, StoreError> {
        let since = {
            let mut state = self.state.write();
            match &*state {
                // Another call reopened it meanwhile.
                State::Open(db) => return Ok(Arc::clone(db)),
                State::Opening => return Err(self.reopening()),
                State::Closed { retry_at, .. } if Instant::now() < *retry_at => {
                    return Err(self.reopening());
                }
                &State::Closed { since, .. } => {
                    *state = State::Opening;
                    since
                }
            }
        };
        // Whatever happens below, the state leaves `Opening`.
        let mut opening = OpeningGuard {
            state: &self.state,
            since,
            retry_in: self.options.reopen_interval,
        };
        match open_file(&self.path, &self.options, Create::Never) {
            Ok(db) => {
                tracing::info!(path = %self.path.display(), "session database opened again");
                let db = Arc::new(Handle::reopened(db));
                opening.finish(State::Open(Arc::clone(&db)));
                Ok(db)
            }
            Err(error) => {
                // A call still running on the failed handle keeps the file
                // locked for a moment: try again soon.
                let interval = self.options.reopen_interval;
                let wait = match error {
                    OpenError::Locked { .. } if since.elapsed() < interval => {
                        LOCKED_RETRY.min(interval)
                    }
                    _ => interval,
                };
                tracing::warn!(path = %self.path.display(), %error, retry_in = ?wait,
                    "session database still cannot be opened");
                opening.retry_in = wait;
                drop(opening);
                Err(StoreError::unavailable(error))
            }
        }
    }

    fn reopening(&self) -> StoreError {
        StoreError::unavailable(Reopening {
            path: self.path.clone(),
            interval: self.options.reopen_interval,
        })
    }
}

/// An open database whose closing cannot panic: redb commits its allocator
/// state when the handle drops, and on a damaged file that can panic, in
/// whatever thread drops the last reference (an app shutting down, say).
#[derive(Debug)]
pub(crate) struct Handle {
    db: Option<redb::Database>,
    /// When the file was opened again for it (`None`: the first open).
    reopened_at: Option<Instant>,
}

impl Handle {
    fn new(db: redb::Database) -> Self {
        Self {
            db: Some(db),
            reopened_at: None,
        }
    }

    fn reopened(db: redb::Database) -> Self {
        Self {
            db: Some(db),
            reopened_at: Some(Instant::now()),
        }
    }
}

impl std::ops::Deref for Handle {
    type Target = redb::Database;
    fn deref(&self) -> &redb::Database {
        self.db
            .as_ref()
            .expect("a handle holds its database until it is dropped")
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        let Some(db) = self.db.take() else { return };
        let closed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(db)));
        if closed.is_err() {
            tracing::error!("the database engine panicked closing a damaged session file");
        }
    }
}

/// Leaves [`State::Opening`]: with the state given to `finish`, or else
/// (a failed open, or a panic inside it) closed until `retry_in` from now.
struct OpeningGuard<'a> {
    state: &'a RwLock<State>,
    since: Instant,
    retry_in: Duration,
}

impl OpeningGuard<'_> {
    fn finish(self, state: State) {
        *self.state.write() = state;
        std::mem::forget(self);
    }
}

impl Drop for OpeningGuard<'_> {
    fn drop(&mut self) {
        *self.state.write() = State::Closed {
            retry_at: later(self.retry_in),
            since: self.since,
        };
    }
}

/// `wait` from now; a wait too long to add (`Duration::MAX`) is about 30
/// years, which is never for a running process.
fn later(wait: Duration) -> Instant {
    later_than(Instant::now(), wait)
}

/// `wait` after `start`, as [`later`] reads a wait too long to add.
fn later_than(start: Instant, wait: Duration) -> Instant {
    start
        .checked_add(wait)
        .or_else(|| start.checked_add(Duration::from_secs(30 * 365 * 24 * 3600)))
        .unwrap_or(start)
}

/// Whether the file may be created.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Create {
    /// The first open: a new store starts with a new file.
    IfMissing,
    /// Opening again after an I/O error: the file must still be there.
    Never,
}

/// Whether `error` leaves the handle answering nothing else until it is
/// reopened: a failed file access, a failed commit that discarded the
/// engine's allocator state, which only opening the file again rebuilds, or
/// a lock of the engine poisoned by a panic inside it, which stays poisoned
/// while the handle lives.
fn needs_reopen(error: &StoreError) -> bool {
    let StoreError::Unavailable(source) = error else {
        return false;
    };
    match source.downcast_ref::<redb::Error>() {
        Some(redb::Error::Io(_) | redb::Error::PreviousIo | redb::Error::LockPoisoned(_)) => true,
        // The engine names no variant for it; its message asks for a reopen.
        Some(redb::Error::Corrupted(message)) => message.contains("reopen the database"),
        _ => false,
    }
}

/// After the first open refused the file at `path` as no database
/// (`refused`): a new database in its place when it holds only zeros, or
/// else `refused` (or [`OpenError::Locked`] when another open holds it now).
fn create_in_unwritten(
    path: &Path,
    options: &OpenOptions,
    refused: OpenError,
) -> Result<redb::Database, OpenError> {
    match crate::unwritten::empty_if_unwritten(path) {
        Ok(true) => {}
        Ok(false) => return Err(refused),
        Err(locked @ OpenError::Locked { .. }) => return Err(locked),
        Err(error) => {
            tracing::warn!(path = %path.display(), %error,
                "could not check whether the refused session file holds only zeros");
            return Err(refused);
        }
    }
    tracing::warn!(path = %path.display(), error = %refused,
        "the session file holds only zeros (a first start stopped before writing it); \
         creating a new session database in its place");
    let db = open_file(path, options, Create::IfMissing)?;
    // The file may never have been synced into its directory.
    crate::builder::sync_parent(path)?;
    Ok(db)
}

/// After a panic in a call on `db`: the error a read now meets when the
/// panic poisoned a lock of the engine's, `None` when it left the engine
/// intact. Reading registers with the engine's allocator state and its
/// transaction tracker, the locks a panic inside it holds; a read that
/// panics too tells the same.
fn poisoned(db: &redb::Database) -> Option<StoreError> {
    use redb::ReadableDatabase as _;
    let read = std::panic::catch_unwind(AssertUnwindSafe(|| db.begin_read().map(drop)));
    match read {
        Ok(Ok(())) => None,
        Ok(Err(error)) => Some(crate::error::db_error(error)).filter(needs_reopen),
        Err(panic) => Some(StoreError::unavailable(format!(
            "the database engine panicked: {}",
            panic_message(&*panic)
        ))),
    }
}

/// Opens the file (creating it when missing, if `create` allows) and
/// prepares or checks its tables.
fn open_file(
    path: &Path,
    options: &OpenOptions,
    create: Create,
) -> Result<redb::Database, OpenError> {
    // Told not to check the file, the engine may panic on a damaged one.
    let opened = std::panic::catch_unwind(|| open_unguarded(path, options, create));
    opened.unwrap_or_else(|panic| {
        let reason = panic_message(&*panic);
        tracing::error!(path = %path.display(), %reason, "the database engine panicked opening the file");
        Err(OpenError::Database {
            path: path.to_path_buf(),
            source: format!("the database engine failed on the file: {reason}").into(),
        })
    })
}

/// [`open_file`] without the guard. Logs what the open recovered from (see
/// [`crate::recovery`]): a commit it dropped, and, on the first open, a
/// file its last process left open (opening again after an I/O error
/// finds the file as the failed handle left it, which that failure
/// explains already).
fn open_unguarded(
    path: &Path,
    options: &OpenOptions,
    create: Create,
) -> Result<redb::Database, OpenError> {
    let left_open = match create {
        Create::IfMissing => LeftOpen::read(path),
        Create::Never => LeftOpen::No,
    };
    let repair = RepairWatch::default();
    let mut builder = redb::Builder::new();
    builder
        .set_cache_size(options.cache_bytes)
        .set_check_integrity_on_open(options.check_integrity);
    repair.watch(&mut builder);
    let db = match create {
        Create::IfMissing => builder.create(path),
        Create::Never => builder.open(path),
    }
    .map_err(|e| open_error(path, e))?;
    prepare_tables(&db, path)?;
    crate::recovery::report(path, left_open, &repair);
    Ok(db)
}

/// Creates the tables of a new file, or checks that an existing file has this
/// store's layout.
fn prepare_tables(db: &redb::Database, path: &Path) -> Result<(), OpenError> {
    let txn = db.begin_write().map_err(|e| open_error(path, e))?;
    {
        let mut layout = txn.open_table(LAYOUT).map_err(|e| open_error(path, e))?;
        let version = layout
            .get(LAYOUT_KEY)
            .map_err(|e| open_error(path, e))?
            .map(|v| v.value());
        match version {
            Some(LAYOUT_VERSION) => {}
            Some(other) => {
                return Err(OpenError::Layout {
                    path: path.to_path_buf(),
                    reason: format!(
                        "layout version {other} (this build reads version {LAYOUT_VERSION})"
                    ),
                });
            }
            None => {
                use redb::TableHandle as _;
                let ours = [LAYOUT.name(), SESSIONS.name(), EXPIRY.name(), USERS.name()];
                let foreign = txn
                    .list_tables()
                    .map_err(|e| open_error(path, e))?
                    .map(|t| t.name().to_owned())
                    .find(|name| !ours.contains(&name.as_str()));
                if let Some(name) = foreign {
                    return Err(OpenError::Layout {
                        path: path.to_path_buf(),
                        reason: format!("it holds a table {name:?} and no session layout version"),
                    });
                }
                layout
                    .insert(LAYOUT_KEY, LAYOUT_VERSION)
                    .map_err(|e| open_error(path, e))?;
            }
        }
        txn.open_table(SESSIONS).map_err(|e| open_error(path, e))?;
        txn.open_table(EXPIRY).map_err(|e| open_error(path, e))?;
        txn.open_table(USERS).map_err(|e| open_error(path, e))?;
    }
    txn.commit().map_err(|e| open_error(path, e))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn options() -> OpenOptions {
        OpenOptions {
            cache_bytes: 1 << 20,
            check_integrity: true,
            reopen_interval: Duration::from_secs(60),
            compact_on_open: false,
        }
    }

    fn previous_io() -> StoreError {
        crate::error::db_error(redb::Error::PreviousIo)
    }

    #[test]
    fn failed_file_accesses_and_discarded_allocator_state_close_the_handle() {
        assert!(needs_reopen(&previous_io()));
        assert!(needs_reopen(&crate::error::db_error(redb::Error::Io(
            std::io::Error::other("disk gone")
        ))));
        // redb 4.6's words after a failed commit, on every later write.
        assert!(needs_reopen(&crate::error::db_error(redb::Error::Corrupted(
            "Allocator state was discarded by a failed integrity check or commit; reopen the database to repair it".into()
        ))));
        assert!(!needs_reopen(&crate::error::db_error(
            redb::Error::Corrupted("bad page".into())
        )));
        // A lock the engine holds was poisoned by a panic inside it.
        assert!(needs_reopen(&crate::error::db_error(
            redb::Error::LockPoisoned(std::panic::Location::caller())
        )));
        assert!(!needs_reopen(&StoreError::Corrupt("bad record".into())));
        assert!(!needs_reopen(&StoreError::unavailable("elsewhere")));
    }

    /// In-memory storage that fails on demand: it panics growing the file
    /// once `panic_growing` is set (redb grows it holding its allocator
    /// state's lock, which the panic poisons), and its flush fails once
    /// `fail_flush` is set (a commit then fails).
    #[derive(Debug, Default)]
    pub(crate) struct FaultyMemory {
        memory: redb::backends::InMemoryBackend,
        pub(crate) panic_growing: Arc<std::sync::atomic::AtomicBool>,
        pub(crate) fail_flush: Arc<std::sync::atomic::AtomicBool>,
    }

    impl FaultyMemory {
        /// A database with the store's tables on this storage (keep the
        /// switches' clones to fail it later).
        pub(crate) fn database(self) -> redb::Database {
            let db = redb::Builder::new().create_with_backend(self).unwrap();
            prepare_tables(&db, Path::new("memory")).unwrap();
            db
        }
    }

    impl redb::StorageBackend for FaultyMemory {
        fn len(&self) -> Result<u64, std::io::Error> {
            self.memory.len()
        }
        fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
            self.memory.read(offset, out)
        }
        fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
            assert!(
                !self.panic_growing.load(std::sync::atomic::Ordering::SeqCst),
                "the storage fails growing the file"
            );
            self.memory.set_len(len)
        }
        fn sync_data(&self) -> Result<(), std::io::Error> {
            if self.fail_flush.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(std::io::Error::other("the disk failed a flush"));
            }
            self.memory.sync_data()
        }
        fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
            self.memory.write(offset, data)
        }
    }

    /// A database whose engine panicked holding one of its locks: reads
    /// answer `LockPoisoned`, writes panic, for as long as it stays open.
    fn poisoned_database() -> redb::Database {
        let storage = FaultyMemory::default();
        let armed = Arc::clone(&storage.panic_growing);
        let db = storage.database();
        armed.store(true, std::sync::atomic::Ordering::SeqCst);
        let grow = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let txn = db.begin_write().unwrap();
            {
                let mut sessions = txn.open_table(SESSIONS).unwrap();
                for i in 0..10_000_u32 {
                    let mut id = [0; 16];
                    id[..4].copy_from_slice(&i.to_be_bytes());
                    sessions.insert(&id, &[7; 512][..]).unwrap();
                }
            }
            txn.commit().unwrap();
        }));
        assert!(grow.is_err(), "the engine panicked growing the file");
        let read = redb::ReadableDatabase::begin_read(&db).map(drop);
        assert!(
            matches!(
                read,
                Err(redb::TransactionError::Storage(
                    redb::StorageError::LockPoisoned(_)
                ))
            ),
            "{read:?}"
        );
        db
    }

    fn read_sessions(db: &redb::Database) -> Result<u64, StoreError> {
        use redb::{ReadableDatabase as _, ReadableTableMetadata as _};
        let txn = db.begin_read().map_err(crate::error::db_error)?;
        let sessions = txn.open_table(SESSIONS).map_err(crate::error::db_error)?;
        sessions.len().map_err(crate::error::db_error)
    }

    /// The engine's lock was poisoned under the open store: the next read
    /// answers `LockPoisoned` once, and the store opens its file again.
    #[test]
    fn a_handle_whose_engine_lock_is_poisoned_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path().join("s.redb"), options()).unwrap();
        db.replace_for_test(poisoned_database());
        let error = db.run(read_sessions).unwrap_err();
        assert!(error.is_unavailable(), "{error}");
        assert_eq!(
            db.run(read_sessions).expect("the file opened again"),
            0,
            "the store's own file"
        );
    }

    /// The engine's lock was poisoned and the next call is a write, which
    /// panics on the lock: that panic goes on to the caller as before, and
    /// the store opens its file again for the next call.
    #[test]
    fn a_call_that_panics_on_a_poisoned_engine_lock_replaces_the_handle() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path().join("s.redb"), options()).unwrap();
        db.replace_for_test(poisoned_database());
        let write = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            db.run(|db| db.begin_write().map(drop).map_err(crate::error::db_error))
        }));
        assert!(write.is_err(), "the write panicked: {write:?}");
        assert_eq!(db.run(read_sessions).expect("the file opened again"), 0);
    }

    /// A call that panics for a reason of its own, with the engine's locks
    /// intact, keeps the handle: opening the file again would not mend it.
    #[test]
    fn a_call_that_panics_with_the_engine_intact_keeps_the_handle() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path().join("s.redb"), options()).unwrap();
        let before = db.handle().unwrap();
        let call = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            db.run(|db| -> Result<(), StoreError> {
                let _txn = db.begin_write().map_err(crate::error::db_error)?;
                panic!("the caller's own bug")
            })
        }));
        assert!(call.is_err());
        assert!(Arc::ptr_eq(&before, &db.handle().unwrap()));
    }

    /// A read on the caller's thread never opens the file: while it is
    /// closed or being opened, the caller is sent on to the blocking pool.
    #[test]
    fn a_read_here_leaves_a_closed_file_to_the_blocking_pool() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path().join("s.redb"), options()).unwrap();
        assert_eq!(db.run_here(read_sessions).map(Result::ok), Some(Some(0)));
        let _ = db.run(|_| Err::<(), _>(previous_io()));
        assert!(db.run_here(read_sessions).is_none());
        assert!(matches!(*db.state.read(), State::Closed { .. }));
        *db.state.write() = State::Opening;
        assert!(db.run_here(read_sessions).is_none());
        assert!(matches!(*db.state.read(), State::Opening));
    }

    /// A panic in a read on the caller's thread is answered `Unavailable`,
    /// not unwound into the caller's task; a panic on a poisoned engine lock
    /// also sets the handle aside, as on the blocking pool.
    #[test]
    fn a_read_here_that_panics_is_answered_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path().join("s.redb"), options()).unwrap();
        let before = db.handle().unwrap();
        let own = db
            .run_here(|_| -> Result<(), StoreError> { panic!("the caller's own bug") })
            .expect("the file is open");
        let error = own.unwrap_err();
        assert!(error.is_unavailable(), "{error}");
        assert!(
            error.to_string().contains("the caller's own bug"),
            "{error}"
        );
        assert!(
            Arc::ptr_eq(&before, &db.handle().unwrap()),
            "the handle kept"
        );
        drop(before);

        db.replace_for_test(poisoned_database());
        let write = db
            .run_here(|db| db.begin_write().map(drop).map_err(crate::error::db_error))
            .expect("the poisoned handle is open");
        assert!(write.unwrap_err().is_unavailable());
        assert!(matches!(*db.state.read(), State::Closed { .. }));
        assert_eq!(db.run(read_sessions).expect("the file opened again"), 0);
    }

    #[test]
    fn a_failed_handle_is_replaced_once_nothing_holds_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path().join("s.redb"), options()).unwrap();
        let failed = db.handle().unwrap();

        // An error that is not a failed file access leaves the handle open.
        let _ = db.run(|_| Err::<(), _>(StoreError::Corrupt("not I/O".into())));
        assert!(Arc::ptr_eq(&failed, &db.handle().unwrap()));

        let _ = db.run(|_| Err::<(), _>(previous_io()));
        // The failed handle still holds the file: the reopen finds it locked
        // and the next call fails fast instead of trying again at once.
        let locked = db.handle().unwrap_err();
        assert!(locked.is_unavailable(), "{locked}");
        let waiting = db.handle().unwrap_err();
        assert!(
            waiting.to_string().contains("closed after an I/O error"),
            "{waiting}"
        );

        drop(failed);
        std::thread::sleep(LOCKED_RETRY * 2);
        let reopened = db.handle().expect("reopened once the old handle is gone");
        assert!(Arc::ptr_eq(&reopened, &db.handle().unwrap()));
    }

    /// A disk still full fails the file opened again at its next write:
    /// it is not opened again before the interval has passed, so a store
    /// answering every write with a failure does not open its file each time.
    #[test]
    fn a_file_opened_again_that_fails_again_waits_out_the_interval() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path().join("s.redb"), options()).unwrap();
        // The first failure after the first open: opened again at once.
        let _ = db.run(|_| Err::<(), _>(previous_io()));
        assert_eq!(db.run(read_sessions).expect("the file opened again"), 0);
        // The file opened again fails too: the next calls fail fast.
        let _ = db.run(|_| Err::<(), _>(previous_io()));
        let waiting = db.handle().unwrap_err();
        assert!(
            waiting.to_string().contains("closed after an I/O error"),
            "{waiting}"
        );
        assert!(!db.is_open());
    }

    /// An interval too long to add to an instant means never, not at once.
    #[test]
    fn an_endless_interval_never_opens_a_failing_file_again() {
        let dir = tempfile::tempdir().unwrap();
        let options = OpenOptions {
            reopen_interval: Duration::MAX,
            ..options()
        };
        let db = Database::open(dir.path().join("s.redb"), options).unwrap();
        let _ = db.run(|_| Err::<(), _>(previous_io()));
        assert_eq!(db.run(read_sessions).expect("the file opened again"), 0);
        let _ = db.run(|_| Err::<(), _>(previous_io()));
        assert!(db.handle().is_err(), "opened again at once");
    }

    #[test]
    fn opening_again_never_creates_a_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let db = Database::open(path.clone(), options()).unwrap();
        // The mount went away: the handle fails, and the file is gone.
        let _ = db.run(|_| Err::<(), _>(previous_io()));
        std::fs::remove_file(&path).unwrap();
        let error = db.handle().unwrap_err();
        assert!(error.is_unavailable(), "{error}");
        assert!(!path.exists(), "no new, empty store in its place");
    }

    #[test]
    fn opening_again_never_replaces_a_file_of_zeros() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let db = Database::open(path.clone(), options()).unwrap();
        let _ = db.run(|_| Err::<(), _>(previous_io()));
        // Whatever put zeros there, they are not this store's first start.
        std::fs::write(&path, vec![0u8; 72 * 1024]).unwrap();
        let error = db.handle().unwrap_err();
        assert!(error.is_unavailable(), "{error}");
        assert!(std::fs::read(&path).unwrap().iter().all(|&b| b == 0));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 72 * 1024);
    }

    #[test]
    fn calls_fail_fast_while_another_call_opens_the_file_again() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path().join("s.redb"), options()).unwrap();
        *db.state.write() = State::Opening;
        let error = db.handle().unwrap_err();
        assert!(
            error.to_string().contains("closed after an I/O error"),
            "{error}"
        );
        assert!(matches!(*db.state.read(), State::Opening));
    }

    /// While one session write opens the file again (a long check of a
    /// large file here), another fails fast instead of waiting for it.
    #[test]
    fn session_writes_fail_fast_while_one_of_them_opens_the_file_again() {
        use session_core::SessionId;
        let dir = tempfile::tempdir().unwrap();
        let store = crate::FileStore::builder(dir.path().join("s.redb"))
            .without_cleanup()
            .open()
            .unwrap();
        let db = &store.inner.db;
        // Enough data that checking the file on opening it takes a while.
        db.run(|db| {
            let txn = db.begin_write().map_err(crate::error::db_error)?;
            {
                let mut sessions = txn.open_table(SESSIONS).map_err(crate::error::db_error)?;
                for i in 0..32_u32 {
                    let mut id = [0; 16];
                    id[..4].copy_from_slice(&i.to_be_bytes());
                    sessions
                        .insert(&id, &vec![7; 1 << 20][..])
                        .map_err(crate::error::db_error)?;
                }
            }
            txn.commit().map_err(crate::error::db_error)
        })
        .unwrap();
        let _ = db.run(|_| Err::<(), _>(previous_io()));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let inner = Arc::clone(&store.inner);
        let reopening = runtime.spawn(async move { inner.delete(SessionId::generate()).await });
        while !matches!(*db.state.read(), State::Opening) {
            assert!(
                !reopening.is_finished(),
                "the file was opened again too fast"
            );
            std::thread::yield_now();
        }
        let other = runtime.block_on(store.inner.delete(SessionId::generate()));
        let still_opening = matches!(*db.state.read(), State::Opening);
        assert!(
            still_opening,
            "the second write waited for the file to be opened again: {other:?}"
        );
        let error = other.unwrap_err();
        assert!(
            error.to_string().contains("closed after an I/O error"),
            "{error}"
        );
        let opened = runtime.block_on(reopening).unwrap();
        assert!(!opened.expect("the write that opened the file went on"));
    }

    #[test]
    fn a_failed_reopen_closes_the_store_until_the_interval_passes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let db = Database::open(path.clone(), options()).unwrap();
        let _ = db.run(|_| Err::<(), _>(previous_io()));
        std::fs::remove_file(&path).unwrap();
        assert!(db.handle().is_err());
        assert!(
            matches!(*db.state.read(), State::Closed { retry_at, .. } if retry_at > Instant::now()),
            "waits a reopen interval, not `Opening` forever"
        );
    }

    #[test]
    fn a_file_locked_for_a_whole_interval_is_tried_once_per_interval() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let interval = Duration::from_secs(60);
        let db = Database::open(path.clone(), options()).unwrap();
        let _ = db.run(|_| Err::<(), _>(previous_io()));
        // Another holder (another process, in production) keeps the file.
        let holder = redb::Database::open(&path).unwrap();

        // Locked just after the failure: the next attempt comes soon.
        assert!(db.handle().is_err());
        let soon = match *db.state.read() {
            State::Closed { retry_at, .. } => retry_at.saturating_duration_since(Instant::now()),
            _ => panic!("closed"),
        };
        assert!(soon <= LOCKED_RETRY, "{soon:?}");

        // Still locked a whole interval after the failure: once per interval.
        let long_ago = Instant::now().checked_sub(interval * 2).unwrap();
        *db.state.write() = State::Closed {
            retry_at: Instant::now(),
            since: long_ago,
        };
        assert!(db.handle().is_err());
        let later = match *db.state.read() {
            State::Closed { retry_at, since } => {
                assert_eq!(since, long_ago, "the failure's time is kept");
                retry_at.saturating_duration_since(Instant::now())
            }
            _ => panic!("closed"),
        };
        assert!(later > interval / 2, "{later:?}");

        drop(holder);
        *db.state.write() = State::Closed {
            retry_at: Instant::now(),
            since: long_ago,
        };
        assert!(db.handle().is_ok(), "opened once the holder is gone");
    }

    #[test]
    fn an_endless_reopen_interval_closes_the_store_without_overflow() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let endless = OpenOptions {
            reopen_interval: Duration::MAX,
            ..options()
        };
        let db = Database::open(path.clone(), endless).unwrap();
        let _ = db.run(|_| Err::<(), _>(previous_io()));
        std::fs::remove_file(&path).unwrap();
        assert!(db.handle().is_err());
        assert!(db.handle().is_err(), "waits, closed");
        assert!(matches!(*db.state.read(), State::Closed { .. }));
    }
}
