//! Why opening a store fails, and how database errors become [`StoreError`]s.

use std::io;
use std::path::PathBuf;

use session_core::StoreError;
use session_core::store::BoxError;

/// Why [`FileStore::open`](crate::FileStore::open) or
/// [`FileStoreBuilder::open`](crate::FileStoreBuilder::open) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// Another process (or another open store in this process) holds the file.
    /// Only one store may have a database file open at a time.
    #[error("session database {path} is already open in another process or store")]
    Locked {
        /// The database file.
        path: PathBuf,
    },
    /// The file or its directory cannot be created, read or written.
    #[error("cannot open session database {path}: {source}")]
    Io {
        /// The file or directory that failed.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The file exists but is not a readable database (damaged, or some other file).
    #[error("{path} is not a readable session database: {source}")]
    Database {
        /// The database file.
        path: PathBuf,
        /// What the database engine reported.
        #[source]
        source: BoxError,
    },
    /// The file is a database, but its tables are not laid out the way this
    /// build of the store reads them (another application's file, or a newer
    /// layout), or its engine's file format is one this build does not read
    /// (an older one to upgrade, or a newer one a later release wrote). The
    /// file is left as it is.
    #[error("session database {path} has an unsupported layout: {reason}")]
    Layout {
        /// The database file.
        path: PathBuf,
        /// What does not match.
        reason: String,
    },
    /// The background cleanup thread could not be started.
    #[error("cannot start the session cleanup thread: {0}")]
    Cleanup(#[source] io::Error),
}

/// Why a call failed while the store is closed after an I/O error, before
/// its next attempt to open the file again.
#[derive(Debug, thiserror::Error)]
#[error(
    "session database {path} was closed after an I/O error; it is opened again at most every {interval:?}"
)]
pub(crate) struct Reopening {
    pub(crate) path: PathBuf,
    pub(crate) interval: std::time::Duration,
}

impl From<OpenError> for StoreError {
    fn from(e: OpenError) -> Self {
        StoreError::unavailable(e)
    }
}

/// Maps any database engine error to [`StoreError::Unavailable`].
pub(crate) fn db_error(e: impl Into<redb::Error>) -> StoreError {
    StoreError::unavailable(e.into())
}

/// How the engine's message for a file of a newer format than its own starts.
const NEWER_FORMAT: &str = "Expected file format version <=";

/// Maps a database error met while opening `path` to an [`OpenError`].
pub(crate) fn open_error(path: &std::path::Path, e: impl Into<redb::Error>) -> OpenError {
    let path = path.to_path_buf();
    match e.into() {
        redb::Error::DatabaseAlreadyOpen => OpenError::Locked { path },
        // redb reports a file that is not a database as invalid data, and
        // one cut short inside its header as an early end of file.
        redb::Error::Io(source)
            if matches!(
                source.kind(),
                io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof
            ) =>
        {
            OpenError::Database {
                path,
                source: Box::new(source),
            }
        }
        redb::Error::Io(source) => OpenError::Io { path, source },
        e @ (redb::Error::TableTypeMismatch { .. }
        | redb::Error::TypeDefinitionChanged { .. }
        | redb::Error::TableIsMultimap(_)
        | redb::Error::TableIsNotMultimap(_)
        | redb::Error::UpgradeRequired(_)) => OpenError::Layout {
            path,
            reason: e.to_string(),
        },
        // A file format newer than the engine's: the engine names no variant
        // for it, only this message. Not damage to give up on: the release
        // that wrote it reads it.
        redb::Error::Corrupted(message) if message.starts_with(NEWER_FORMAT) => OpenError::Layout {
            path,
            reason: format!(
                "its file format is newer than this build's database engine reads \
                     ({message}): a newer release wrote it (or its header is damaged)"
            ),
        },
        source => OpenError::Database {
            path,
            source: Box::new(source),
        },
    }
}

/// The message of a caught panic: its `&str` or `String` payload (what
/// `panic!` and `expect` carry), or a placeholder for any other payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(a panic payload that is not a string)")
}

#[cfg(test)]
mod tests {
    use super::panic_message;

    #[test]
    fn a_panic_message_is_read_from_str_and_string_payloads() {
        let caught = |f: fn()| std::panic::catch_unwind(f).unwrap_err();
        assert_eq!(panic_message(&*caught(|| panic!("plain"))), "plain");
        assert_eq!(
            panic_message(&*caught(|| panic!("formatted {}", 1))),
            "formatted 1"
        );
        assert_eq!(
            panic_message(&*caught(|| std::panic::panic_any(7_u8))),
            "(a panic payload that is not a string)"
        );
    }
}
