//! The open database file, and reopening it after an I/O error.
//!
//! After one failed read, write or flush, redb answers every later call with
//! `PreviousIo` until the database is closed and opened again. [`Database`]
//! does that, so a transient disk error (a full disk, a dropped network
//! mount) is an outage only while it lasts: the handle that failed is set
//! aside, and the next call opens the file again, which rolls it back to its
//! last commit. While the file cannot be opened, calls fail fast with
//! [`StoreError::Unavailable`] and a new attempt is made at most once per
//! reopen interval.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use redb::ReadableTable;
use session_core::StoreError;

use crate::error::{OpenError, Reopening, open_error};
use crate::tables::{EXPIRY, LAYOUT, LAYOUT_KEY, LAYOUT_VERSION, SESSIONS, USERS};

/// How long a store closed by an I/O error waits between attempts to open
/// its file again, by default.
pub const DEFAULT_REOPEN_INTERVAL: Duration = Duration::from_secs(1);

/// Wait before the next attempt when the file is still locked, most likely
/// by a call finishing on the handle that failed.
const LOCKED_RETRY: Duration = Duration::from_millis(10);

/// How the file is opened, the first time and after an I/O error.
#[derive(Debug, Clone)]
pub(crate) struct OpenOptions {
    pub(crate) cache_bytes: usize,
    pub(crate) check_integrity: bool,
    pub(crate) reopen_interval: Duration,
}

/// The database handle every operation borrows, replaced after an I/O error.
pub(crate) struct Database {
    path: PathBuf,
    options: OpenOptions,
    state: RwLock<State>,
}

enum State {
    Open(Arc<redb::Database>),
    /// Closed after an I/O error; the next attempt to open may start at `retry_at`.
    Closed {
        retry_at: Instant,
    },
}

impl Database {
    /// Opens the file at `path` (created when missing) and checks its layout.
    pub(crate) fn open(path: PathBuf, options: OpenOptions) -> Result<Self, OpenError> {
        let db = open_file(&path, &options)?;
        Ok(Self {
            path,
            options,
            state: RwLock::new(State::Open(Arc::new(db))),
        })
    }

    /// Runs `f` on the open database (opening the file again first when an
    /// I/O error closed it and the reopen interval has passed), and sets the
    /// handle aside when `f` fails on a file access, so the next call opens
    /// the file again.
    pub(crate) fn run<T>(
        &self,
        f: impl FnOnce(&redb::Database) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let db = self.handle()?;
        let result = f(&db);
        if let Err(error) = &result
            && is_io_failure(error)
        {
            self.set_aside(&db, error);
        }
        result
    }

    fn handle(&self) -> Result<Arc<redb::Database>, StoreError> {
        if let State::Open(db) = &*self.state.read() {
            return Ok(Arc::clone(db));
        }
        self.reopen()
    }

    fn set_aside(&self, db: &Arc<redb::Database>, error: &StoreError) {
        let mut state = self.state.write();
        if matches!(&*state, State::Open(current) if Arc::ptr_eq(current, db)) {
            tracing::warn!(path = %self.path.display(), %error,
                "session database I/O failed; closing it to open it again");
            *state = State::Closed {
                retry_at: Instant::now(),
            };
        }
    }

    fn reopen(&self) -> Result<Arc<redb::Database>, StoreError> {
        let mut state = self.state.write();
        match &*state {
            // Another call reopened it meanwhile, or just failed to.
            State::Open(db) => return Ok(Arc::clone(db)),
            State::Closed { retry_at } if Instant::now() < *retry_at => {
                return Err(self.reopening());
            }
            State::Closed { .. } => {}
        }
        match open_file(&self.path, &self.options) {
            Ok(db) => {
                tracing::info!(path = %self.path.display(), "session database opened again");
                let db = Arc::new(db);
                *state = State::Open(Arc::clone(&db));
                Ok(db)
            }
            Err(error) => {
                // A call still running on the failed handle keeps the file
                // locked for a moment: try again soon.
                let wait = match error {
                    OpenError::Locked { .. } => LOCKED_RETRY.min(self.options.reopen_interval),
                    _ => self.options.reopen_interval,
                };
                tracing::warn!(path = %self.path.display(), %error, retry_in = ?wait,
                    "session database still cannot be opened");
                *state = State::Closed {
                    retry_at: Instant::now() + wait,
                };
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

/// Whether `error` is redb's report of a failed file access, after which the
/// handle answers nothing else until it is reopened.
fn is_io_failure(error: &StoreError) -> bool {
    let StoreError::Unavailable(source) = error else {
        return false;
    };
    matches!(
        source.downcast_ref::<redb::Error>(),
        Some(redb::Error::Io(_) | redb::Error::PreviousIo)
    )
}

/// Opens (creating when missing) the file and prepares or checks its tables.
fn open_file(path: &Path, options: &OpenOptions) -> Result<redb::Database, OpenError> {
    let mut builder = redb::Builder::new();
    builder
        .set_cache_size(options.cache_bytes)
        .set_check_integrity_on_open(options.check_integrity);
    let db = builder.create(path).map_err(|e| open_error(path, e))?;
    prepare_tables(&db, path)?;
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
mod tests {
    use super::*;

    fn options() -> OpenOptions {
        OpenOptions {
            cache_bytes: 1 << 20,
            check_integrity: true,
            reopen_interval: Duration::from_secs(60),
        }
    }

    fn previous_io() -> StoreError {
        crate::error::db_error(redb::Error::PreviousIo)
    }

    #[test]
    fn only_failed_file_accesses_close_the_handle() {
        assert!(is_io_failure(&previous_io()));
        assert!(is_io_failure(&crate::error::db_error(redb::Error::Io(
            std::io::Error::other("disk gone")
        ))));
        assert!(!is_io_failure(&crate::error::db_error(
            redb::Error::Corrupted("bad page".into())
        )));
        assert!(!is_io_failure(&StoreError::Corrupt("bad record".into())));
        assert!(!is_io_failure(&StoreError::unavailable("elsewhere")));
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
}
