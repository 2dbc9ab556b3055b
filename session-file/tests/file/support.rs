//! A store on its own temporary file, and record helpers.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use session_core::conformance::Guarded;
use session_core::{Binding, MockClock, SessionId, SessionPatch, SessionRecord, Timestamp};
use session_file::FileStore;
use tempfile::TempDir;

pub const HOUR: Duration = Duration::from_secs(3600);

/// A [`FileStore`] on a file in its own temporary directory, removed after the store closes.
pub type TempStore = Guarded<FileStore, TempDir>;

/// A store on `clock` with the default cleanup thread.
pub fn temp_store(clock: MockClock) -> TempStore {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = FileStore::builder(dir.path().join("sessions.redb"))
        .clock(Arc::new(clock))
        .open()
        .expect("open store");
    Guarded::new(store, dir)
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
