//! What the open of a file its last process left open tells the log.
//!
//! The engine marks its file "recovery required" in the file's header while
//! it has the file open, and clears the mark when it closes it. A file that
//! still has the mark was left by a process that stopped without closing it
//! (a kill, a crash, a power cut, or an exit that never dropped the store),
//! and the engine recovers it: it takes the last commit whose pages verify,
//! so a commit cut short (by a power cut, or lost by a disk that had
//! confirmed it) is dropped and the file is back at the commit before it.
//! Neither is an error, and the engine says nothing of either; an operator
//! should know both. [`LeftOpen::read`] reads the mark before the engine
//! opens the file, [`RepairWatch`] sees the engine's repair drop a commit,
//! and [`report`] logs what they found once the file is open.
//!
//! The header is redb's stable, documented file format: a 9-byte magic
//! number, then the "god byte", whose bit of value 2 is the mark.

use std::io::Read as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The magic number a redb file starts with.
const MAGIC: [u8; 9] = [b'r', b'e', b'd', b'b', 0x1A, 0x0A, 0xA9, 0x0D, 0x0A];

/// The bit of the byte after [`MAGIC`] that marks a file open, or left open.
const RECOVERY_REQUIRED: u8 = 2;

/// How far the engine's repair has gone when it reports that the last
/// commit's pages did not verify and it falls back to the commit before:
/// it reports that point (after the first of its three scans) only then.
const FELL_BACK_PROGRESS: f64 = 0.3;

/// Whether the file's last process left it open, as read before the open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LeftOpen {
    /// It has the mark of an open file.
    Yes,
    /// It was closed, or is new, or is no redb file, or could not be read
    /// (the open then says why).
    No,
}

impl LeftOpen {
    /// Reads the mark of `path`. Read without the lock the open takes: a
    /// process that has the file open makes the open fail (nothing is
    /// reported then), and one that closes it between this read and the
    /// open makes the report speak of a stop that was a close.
    pub(crate) fn read(path: &Path) -> Self {
        let mut header = [0u8; MAGIC.len() + 1];
        // Only a regular file is read: opening a FIFO to read waits for a
        // writer, which would hold up the open that then refuses it.
        let read = std::fs::metadata(path).and_then(|metadata| {
            if !metadata.is_file() {
                return Err(std::io::Error::other("not a regular file"));
            }
            std::fs::File::open(path)?.read_exact(&mut header)
        });
        match read {
            Ok(())
                if header[..MAGIC.len()] == MAGIC
                    && header[MAGIC.len()] & RECOVERY_REQUIRED != 0 =>
            {
                LeftOpen::Yes
            }
            Ok(()) => LeftOpen::No,
            Err(error) => {
                tracing::debug!(path = %path.display(), %error,
                    "could not read whether the session file was left open");
                LeftOpen::No
            }
        }
    }
}

/// Sees the engine's repair, during an open, fall back from a last commit
/// whose pages do not verify.
#[derive(Debug, Clone, Default)]
pub(crate) struct RepairWatch {
    fell_back: Arc<AtomicBool>,
}

impl RepairWatch {
    /// Installs the watch on `builder`, the engine's for one open.
    pub(crate) fn watch(&self, builder: &mut redb::Builder) {
        let fell_back = Arc::clone(&self.fell_back);
        builder.set_repair_callback(move |session| {
            if session.progress() == FELL_BACK_PROGRESS {
                fell_back.store(true, Ordering::Relaxed);
            }
        });
    }

    fn fell_back(&self) -> bool {
        self.fell_back.load(Ordering::Relaxed)
    }
}

/// Logs, once `path` is open, what its open recovered from: a file left
/// open (`left_open`), and a last commit dropped (seen by `watch`).
pub(crate) fn report(path: &Path, left_open: LeftOpen, watch: &RepairWatch) {
    if left_open == LeftOpen::Yes {
        tracing::warn!(path = %path.display(),
            "the session database was not closed by the process that had it open last (it \
             was killed, crashed, lost power, or exited without dropping the store); it is \
             opened at its last complete commit");
    }
    if watch.fell_back() {
        tracing::warn!(path = %path.display(),
            "the last commit in the session database was incomplete (a crash or power cut \
             during it, or a disk that lost writes it had confirmed) and is dropped: the file \
             is back at the commit before it, and writes answered by that commit are lost");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mark_is_read_from_a_redb_header_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let mut header = MAGIC.to_vec();
        header.extend([RECOVERY_REQUIRED | 1, 0, 0]);
        std::fs::write(&path, &header).unwrap();
        assert_eq!(LeftOpen::read(&path), LeftOpen::Yes);
        header[MAGIC.len()] = 1 | 4;
        std::fs::write(&path, &header).unwrap();
        assert_eq!(LeftOpen::read(&path), LeftOpen::No);
        // Another file with the bit set, a file too short, no file.
        std::fs::write(&path, [RECOVERY_REQUIRED; 64]).unwrap();
        assert_eq!(LeftOpen::read(&path), LeftOpen::No);
        std::fs::write(&path, MAGIC).unwrap();
        assert_eq!(LeftOpen::read(&path), LeftOpen::No);
        assert_eq!(LeftOpen::read(&dir.path().join("none")), LeftOpen::No);
        assert_eq!(LeftOpen::read(dir.path()), LeftOpen::No);
    }

    /// A FIFO at the path is not opened (that would wait for a writer).
    #[cfg(unix)]
    #[test]
    fn a_fifo_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let made = std::process::Command::new("mkfifo").arg(&path).status();
        if !made.is_ok_and(|status| status.success()) {
            eprintln!("skipped: mkfifo failed");
            return;
        }
        assert_eq!(LeftOpen::read(&path), LeftOpen::No);
    }

    /// The engine's own mark: set while a database is open, cleared when
    /// it closes.
    #[test]
    fn the_engine_marks_its_file_while_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let db = redb::Database::create(&path).unwrap();
        assert_eq!(LeftOpen::read(&path), LeftOpen::Yes);
        drop(db);
        assert_eq!(LeftOpen::read(&path), LeftOpen::No);
    }
}
