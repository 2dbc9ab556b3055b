//! A file that a first start left before the database engine wrote anything
//! in it: sized, all zeros, no database.
//!
//! redb creates a database by sizing the empty file (72 KiB with its default
//! page size) and only then writing its header. A start that stops between
//! the two (a crash, a kill, a power cut) leaves a file of zeros, which
//! every later open refuses as "not a database". Such a file holds nothing,
//! so the first open empties it, and the engine creates a new database in
//! it. A file holding any other byte is never touched.

use std::io;
use std::ops::Bound;
use std::path::Path;

use redb::StorageBackend as _;
use redb::backends::FileBackend;

use crate::error::{OpenError, open_error};

/// Longest file taken for one a first start left unwritten. A new file is
/// 72 KiB long until its first commit; a longer file of zeros came from
/// somewhere else, and is not read to its end to find out.
const MAX_UNWRITTEN_LEN: u64 = 1 << 20;

/// Bytes read at a time while checking the file.
const CHUNK: usize = 64 * 1024;

/// Empties the file at `path` when it holds nothing but zeros, so the engine
/// creates a new database in it; `Ok(false)`, the file untouched, when it
/// holds anything else, is empty already, or is not a regular file.
///
/// The file is opened once and everything is done through that handle, on
/// the file it found (through a symlink, the link's target, which is the
/// file the engine opens too), holding the lock over the whole file that
/// conflicts with every lock a database open takes. So another process
/// that opened the file as a database meanwhile (and may have created one
/// in it) makes this fail with [`OpenError::Locked`], and one that opens it
/// while this runs finds it locked; once emptied, whoever opens it next
/// creates the database.
pub(crate) fn empty_if_unwritten(path: &Path) -> Result<bool, OpenError> {
    let io_error = |source| OpenError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io_error)?;
    let metadata = file.metadata().map_err(io_error)?;
    if !metadata.is_file() || metadata.len() == 0 || metadata.len() > MAX_UNWRITTEN_LEN {
        return Ok(false);
    }
    let backend = FileBackend::new(file).map_err(|e| open_error(path, e))?;
    let locked = backend
        .try_lock_range(Bound::Unbounded, Bound::Unbounded)
        .map_err(|e| io_error(io::Error::other(e)))?;
    if !locked {
        return Err(OpenError::Locked {
            path: path.to_path_buf(),
        });
    }
    let emptied = empty_locked(&backend).map_err(io_error);
    if let Err(error) = backend.close() {
        // Closing the file below releases the locks all the same.
        tracing::debug!(path = %path.display(), %error, "releasing the lock on the session file failed");
    }
    emptied
}

/// [`empty_if_unwritten`] on the locked file. Its length is read again under
/// the lock. Emptying is not synced: a file left either way (zeros or
/// empty) is taken for a new database by the next start.
fn empty_locked(backend: &FileBackend) -> io::Result<bool> {
    let len = backend.len()?;
    if len == 0 || len > MAX_UNWRITTEN_LEN {
        return Ok(false);
    }
    let mut buffer = vec![0u8; CHUNK];
    let mut offset = 0;
    while offset < len {
        let n = usize::try_from(len - offset).map_or(CHUNK, |left| left.min(CHUNK));
        let chunk = &mut buffer[..n];
        backend.read(offset, chunk)?;
        if chunk.iter().any(|&b| b != 0) {
            return Ok(false);
        }
        offset += n as u64;
    }
    backend.set_len(0)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEW_FILE_LEN: usize = 72 * 1024;

    /// Another process opened the file as a database between the refusal
    /// and the check (and created one in it): the check finds it locked
    /// and leaves it alone.
    #[test]
    fn a_file_open_as_a_database_elsewhere_is_locked_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let other = redb::Database::create(&path).unwrap();
        let before = std::fs::read(&path).unwrap();
        let checked = empty_if_unwritten(&path);
        assert!(
            matches!(checked, Err(OpenError::Locked { .. })),
            "{checked:?}"
        );
        assert!(std::fs::read(&path).unwrap() == before);
        drop(other);
    }

    /// The lock the check holds keeps a database open out until the file is
    /// emptied: nobody creates a database in it that the check then empties.
    #[test]
    fn the_check_s_lock_keeps_a_database_open_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        std::fs::write(&path, vec![0u8; NEW_FILE_LEN]).unwrap();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        let backend = FileBackend::new(file).unwrap();
        assert!(
            backend
                .try_lock_range(Bound::Unbounded, Bound::Unbounded)
                .unwrap()
        );
        assert!(matches!(
            redb::Database::create(&path),
            Err(redb::DatabaseError::DatabaseAlreadyOpen)
        ));
        assert!(matches!(
            empty_if_unwritten(&path),
            Err(OpenError::Locked { .. })
        ));
        backend.close().unwrap();
        drop(backend);
        assert!(empty_if_unwritten(&path).unwrap(), "emptied once released");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
        drop(redb::Database::create(&path).unwrap());
    }

    #[test]
    fn only_a_regular_file_of_zeros_is_emptied() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        std::fs::write(&path, b"").unwrap();
        assert!(!empty_if_unwritten(&path).unwrap(), "empty already");
        let mut bytes = vec![0u8; NEW_FILE_LEN];
        *bytes.last_mut().unwrap() = 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(!empty_if_unwritten(&path).unwrap());
        assert!(std::fs::read(&path).unwrap() == bytes);
        // A directory is no file to empty.
        assert!(empty_if_unwritten(dir.path()).is_err_and(|e| matches!(e, OpenError::Io { .. })));
    }
}
