//! [`FileStoreBuilder`]: where the file is, which clock, how often to clean up,
//! what limits; and opening the database.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use session_core::SystemClock;
use session_core::clock::SharedClock;

use crate::cleanup::{Cleanup, DEFAULT_CLEANUP_INTERVAL};
use crate::database::{DEFAULT_REOPEN_INTERVAL, Database, OpenOptions};
use crate::error::OpenError;
use crate::group::CommitGroup;
use crate::store::{FileStore, Inner};

/// Largest encoded record accepted by default, in bytes (1 MiB).
pub const DEFAULT_MAX_RECORD_BYTES: usize = 1 << 20;

/// Memory the database may use to cache pages by default (64 MiB).
pub const DEFAULT_CACHE_BYTES: usize = 64 << 20;

/// Configures and opens a [`FileStore`].
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use std::time::Duration;
/// use session_core::MockClock;
/// use session_file::FileStore;
///
/// let dir = tempfile::tempdir()?;
/// let clock = MockClock::starting_now();
/// let store = FileStore::builder(dir.path().join("sessions.redb"))
///     .clock(Arc::new(clock.clone()))
///     .cleanup_interval(Duration::from_secs(30))
///     .max_record_bytes(64 * 1024)
///     .open()?;
/// assert_eq!(store.max_record_bytes(), 64 * 1024);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct FileStoreBuilder {
    path: PathBuf,
    clock: SharedClock,
    cleanup_interval: Option<Duration>,
    max_record_bytes: usize,
    max_sessions: Option<u64>,
    cache_bytes: usize,
    check_integrity: bool,
    reopen_interval: Duration,
    loads_on_blocking_pool: bool,
    compact_on_open: bool,
}

impl FileStoreBuilder {
    /// A builder for the database at `path`, with the defaults of
    /// [`FileStore::open`]: system clock, cleanup every minute, 1 MiB records,
    /// integrity check on open, a new attempt to open the file every second
    /// after a disk error.
    pub fn new(path: impl AsRef<Path>) -> Self {
        Self {
            path: path.as_ref().to_path_buf(),
            clock: Arc::new(SystemClock),
            cleanup_interval: Some(DEFAULT_CLEANUP_INTERVAL),
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            max_sessions: None,
            cache_bytes: DEFAULT_CACHE_BYTES,
            check_integrity: true,
            reopen_interval: DEFAULT_REOPEN_INTERVAL,
            loads_on_blocking_pool: false,
            compact_on_open: false,
        }
    }

    /// The clock expiry decisions follow (share it with the service so they agree).
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// How often the background cleanup deletes expired sessions (at least
    /// one millisecond).
    pub fn cleanup_interval(mut self, interval: Duration) -> Self {
        self.cleanup_interval = Some(interval);
        self
    }

    /// Starts no background cleanup: expired records are then never returned
    /// but stay in the file until [`FileStore::sweep_expired`] or
    /// [`FileStore::start_cleanup`] removes them, or a save, touch or rebind
    /// meets them.
    pub fn without_cleanup(mut self) -> Self {
        self.cleanup_interval = None;
        self
    }

    /// Refuses records whose encoded form is larger than `bytes` with
    /// [`StoreError::TooLarge`](session_core::StoreError::TooLarge). A record
    /// stored larger under an earlier limit still loads, is refreshed and
    /// can lose values or permissions; a save that sets values, or a rebind
    /// that grows it, is refused.
    pub fn max_record_bytes(mut self, bytes: usize) -> Self {
        self.max_record_bytes = bytes;
        self
    }

    /// Caps the records the file holds at `max`: while it holds `max`
    /// records or more (live or expired but not swept yet, logins and
    /// markers included), creating an anonymous session (no login) fails
    /// with [`StoreError::Unavailable`](session_core::StoreError::Unavailable)
    /// (a 503 in the web layer) once a batch of expired records was swept,
    /// so a flood of cookieless requests that write cannot fill the disk.
    /// Logged-in sessions (and a move's marker) are always taken, past the
    /// cap too: a login is never refused for a flood of anonymous sessions.
    /// No cap by default.
    pub fn max_sessions(mut self, max: usize) -> Self {
        self.max_sessions = Some(u64::try_from(max).unwrap_or(u64::MAX));
        self
    }

    /// Memory the database may use to cache pages.
    pub fn cache_bytes(mut self, bytes: usize) -> Self {
        self.cache_bytes = bytes;
        self
    }

    /// Whether opening verifies the checksum of every page (on by default).
    /// A damaged file then fails to open with [`OpenError::Database`] instead
    /// of being trusted. The check reads the whole file once per open; a file
    /// left by a crash is always checked and repaired to its last commit
    /// (logged at `warn` level, see the [crate docs](crate#crash-safety)).
    /// Without the check a damaged file is trusted: opening it may still fail
    /// with [`OpenError::Database`], and calls on it may fail with
    /// [`StoreError::Unavailable`](session_core::StoreError::Unavailable).
    pub fn check_integrity_on_open(mut self, enabled: bool) -> Self {
        self.check_integrity = enabled;
        self
    }

    /// How long a store whose file failed a read or write waits between
    /// attempts to open the file again (default
    /// [`DEFAULT_REOPEN_INTERVAL`](crate::DEFAULT_REOPEN_INTERVAL)). The first
    /// attempt is the next call after the failure, unless the file was
    /// itself opened again less than this long ago (a disk still full):
    /// then that much after that opening. Calls in between, reads too, fail
    /// fast with [`StoreError::Unavailable`](session_core::StoreError::Unavailable).
    pub fn reopen_interval(mut self, interval: Duration) -> Self {
        self.reopen_interval = interval;
        self
    }

    /// Whether [`load`](session_core::SessionStore::load) runs on tokio's
    /// blocking pool, as every other call does, instead of on the calling
    /// task (off by default).
    ///
    /// A load reads a few pages that the engine's cache (see
    /// [`cache_bytes`](Self::cache_bytes)) or the OS's page cache almost
    /// always holds: a few microseconds, about a tenth of what handing the
    /// call to another thread and back costs. So it runs where it is called.
    /// Turn this on when the file sits on storage slow to read (a network
    /// mount) or is much larger than the memory that caches it: a load that
    /// must wait for the disk then waits on a blocking thread instead of
    /// holding up the runtime's thread and the tasks queued on it. A load
    /// always goes to the blocking pool while the file is closed after a
    /// disk error, since opening it again may check the whole file.
    pub fn loads_on_blocking_pool(mut self, enabled: bool) -> Self {
        self.loads_on_blocking_pool = enabled;
        self
    }

    /// Whether opening compacts the file (off by default).
    ///
    /// The file grows to hold the most sessions it ever held at once, and
    /// keeps that size when they expire: the engine reuses the freed space
    /// for new sessions but never gives it back. Compacting moves the live
    /// sessions to the front of the file and cuts off the rest. It reads and
    /// writes every live page, so the open takes longer, in proportion to
    /// what the file holds: turn it on for a restart after a burst (a flood
    /// of new sessions, a bot), not on every start of a large store.
    ///
    /// Each step is committed like any write, so a crash during compaction
    /// leaves the file at its last commit with every session in it. A
    /// compaction that fails (a disk error) is logged at `warn` level, and
    /// the file is opened again as it is; the sizes before and after a
    /// compaction are logged at `info` level.
    pub fn compact_on_open(mut self, enabled: bool) -> Self {
        self.compact_on_open = enabled;
        self
    }

    /// Opens (creating when missing, with its parent directories) the database
    /// and starts the cleanup thread. A new file is readable by its owner
    /// only (mode 0600 on Unix); an existing one keeps its mode. Blocks while the file is opened. A
    /// first open that fails removes the file and directories it created,
    /// so the next start begins afresh; a file of zeros that a first start
    /// stopped before writing (a crash) gets a new database.
    pub fn open(self) -> Result<FileStore, OpenError> {
        let path = self.path;
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        // The directories and file this open creates: their entries are
        // synced once created, so a power cut cannot drop a new store file
        // (and the commits made to it) with its directory entry.
        let mut new_entries: Vec<PathBuf> = dir
            .map(|dir| {
                dir.ancestors()
                    .take_while(|d| !d.exists())
                    .map(Path::to_path_buf)
                    .collect()
            })
            .unwrap_or_default();
        if let Some(dir) = dir {
            std::fs::create_dir_all(dir).map_err(|source| OpenError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        // The file is this open's (to remove if the open fails) only when
        // this open creates it, exclusively: not a file another process
        // made meanwhile, nor an operator's link to a file still to be made.
        // redb takes an empty file as a new database. It holds user names
        // and session data: readable by its owner only (on Unix).
        let mut create = std::fs::OpenOptions::new();
        create.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut create, 0o600);
        match create.open(&path) {
            Ok(_) => new_entries.insert(0, path.clone()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(source) => {
                remove_new_entries(&new_entries);
                return Err(OpenError::Io { path, source });
            }
        }
        let options = OpenOptions {
            cache_bytes: self.cache_bytes,
            check_integrity: self.check_integrity,
            reopen_interval: self.reopen_interval,
            compact_on_open: self.compact_on_open,
        };
        let db = Database::open(path.clone(), options).inspect_err(|error| {
            // A first open that failed part-way (a full disk fails redb's
            // header write after the file was sized) would leave a file
            // every later open refuses as damaged. Not on `Locked`: another
            // process created the file meanwhile and holds it.
            if !matches!(error, OpenError::Locked { .. }) {
                remove_new_entries(&new_entries);
            }
        })?;
        for entry in &new_entries {
            sync_parent(entry)?;
        }
        let inner = Arc::new(Inner {
            db,
            group: CommitGroup::default(),
            clock: self.clock,
            max_record_bytes: self.max_record_bytes,
            max_sessions: self.max_sessions,
            loads_here: !self.loads_on_blocking_pool,
            path,
        });
        let cleanup = match self.cleanup_interval {
            Some(interval) => {
                Some(Cleanup::start(Arc::clone(&inner), interval).map_err(OpenError::Cleanup)?)
            }
            None => None,
        };
        tracing::debug!(path = %inner.path.display(), "opened session database");
        Ok(FileStore {
            cleanup: Arc::new(Mutex::new(cleanup)),
            inner,
        })
    }
}

/// Removes what a failed open created: the file, then the directories it
/// made, deepest first (each only while empty).
fn remove_new_entries(new_entries: &[PathBuf]) {
    for (i, entry) in new_entries.iter().enumerate() {
        let removed = match i {
            0 if std::fs::symlink_metadata(entry).is_ok_and(|m| m.is_file()) => {
                std::fs::remove_file(entry)
            }
            _ => std::fs::remove_dir(entry),
        };
        if let Err(error) = removed {
            tracing::warn!(path = %entry.display(), %error, "could not remove what a failed open of the session database created");
        }
    }
}

/// Makes the directory entry of the newly created `entry` durable by syncing
/// the directory that holds it.
pub(crate) fn sync_parent(entry: &Path) -> Result<(), OpenError> {
    let parent = match entry.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let sync = std::fs::File::open(parent).and_then(|dir| dir.sync_all());
    sync.map_err(|source| OpenError::Io {
        path: parent.to_path_buf(),
        source,
    })
}
