//! Compaction at open: the engine reuses freed pages but never gives them
//! back, so a file grown by a burst of sessions keeps its size after they
//! expire. Compacting moves the live pages to the front and truncates.

use std::panic::AssertUnwindSafe;
use std::path::Path;

use crate::error::panic_message;

/// Compacts the just-opened `db` at `path`, logging the sizes before and
/// after; whether it did. On failure, logs why and answers `false`: the
/// handle may then refuse further calls, and the caller opens the file again. The engine commits
/// each step of a compaction in two phases, so a failure or crash midway
/// leaves the file at its last commit, with every session in it.
pub(crate) fn compact(db: &mut redb::Database, path: &Path) -> bool {
    let before = file_len(path);
    let run = std::panic::catch_unwind(AssertUnwindSafe(|| db.compact()));
    let reason = match run {
        Ok(Ok(_)) => {
            tracing::info!(path = %path.display(), before, after = file_len(path),
                "compacted the session database");
            return true;
        }
        Ok(Err(error)) => error.to_string(),
        Err(panic) => format!("the database engine panicked: {}", panic_message(&*panic)),
    };
    tracing::warn!(path = %path.display(), %reason,
        "could not compact the session database; opening it as it is");
    false
}

/// The file's length in bytes, `0` when it cannot be read (only logged).
fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}
