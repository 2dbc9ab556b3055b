//! [`FileStoreBuilder`]: where the file is, which clock, how often to clean up,
//! what limits; and opening the database.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use redb::ReadableTable;
use session_core::SystemClock;
use session_core::clock::SharedClock;

use crate::cleanup::{Cleanup, DEFAULT_CLEANUP_INTERVAL};
use crate::error::{OpenError, open_error};
use crate::store::{FileStore, Inner};
use crate::tables::{EXPIRY, LAYOUT, LAYOUT_KEY, LAYOUT_VERSION, SESSIONS, USERS};

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
    cache_bytes: usize,
    check_integrity: bool,
}

impl FileStoreBuilder {
    /// A builder for the database at `path`, with the defaults of
    /// [`FileStore::open`]: system clock, cleanup every minute, 1 MiB records,
    /// integrity check on open.
    pub fn new(path: impl AsRef<Path>) -> Self {
        Self {
            path: path.as_ref().to_path_buf(),
            clock: Arc::new(SystemClock),
            cleanup_interval: Some(DEFAULT_CLEANUP_INTERVAL),
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            cache_bytes: DEFAULT_CACHE_BYTES,
            check_integrity: true,
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
    /// [`FileStore::start_cleanup`] removes them, or a save or touch meets them.
    pub fn without_cleanup(mut self) -> Self {
        self.cleanup_interval = None;
        self
    }

    /// Refuses records whose encoded form is larger than `bytes` with
    /// [`StoreError::TooLarge`](session_core::StoreError::TooLarge).
    pub fn max_record_bytes(mut self, bytes: usize) -> Self {
        self.max_record_bytes = bytes;
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
    /// left by a crash is always checked and repaired to its last commit.
    pub fn check_integrity_on_open(mut self, enabled: bool) -> Self {
        self.check_integrity = enabled;
        self
    }

    /// Opens (creating when missing, with its parent directories) the database
    /// and starts the cleanup thread. Blocks while the file is opened.
    pub fn open(self) -> Result<FileStore, OpenError> {
        let path = self.path;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| OpenError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let mut builder = redb::Builder::new();
        builder
            .set_cache_size(self.cache_bytes)
            .set_check_integrity_on_open(self.check_integrity);
        let db = builder.create(&path).map_err(|e| open_error(&path, e))?;
        prepare_tables(&db, &path)?;
        let inner = Arc::new(Inner {
            db,
            clock: self.clock,
            max_record_bytes: self.max_record_bytes,
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
