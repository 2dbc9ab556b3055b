//! Compaction at open: a file left large by a burst of sessions shrinks to
//! what its live sessions need, and keeps every one of them.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use session_core::clock::Clock as _;
use session_core::{MockClock, SessionRecord, SessionStore};
use session_file::{FileStore, OpenError};

use crate::support::{HOUR, open_at, record, temp_path};

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).expect("file metadata").len()
}

/// A file that held 400 sessions of 16 KiB each, 390 of them swept as
/// expired; returns the 10 that live.
async fn file_after_a_burst(path: &Path, clock: &MockClock) -> Vec<SessionRecord> {
    let store = open_at(path, clock);
    let burst = (0..390).map(|_| {
        let mut r = record(clock.now(), Duration::from_secs(1), None);
        r.fields
            .insert("bulk", format!("\"{}\"", "x".repeat(16 << 10)));
        r
    });
    // At once, so they share commits.
    let mut writes = tokio::task::JoinSet::new();
    for r in burst {
        let store = store.clone();
        writes.spawn(async move { store.create(&r).await });
    }
    while let Some(created) = writes.join_next().await {
        created.unwrap().unwrap();
    }
    let mut kept = Vec::new();
    for _ in 0..10 {
        let r = record(clock.now(), 24 * HOUR, Some("ada"));
        store.create(&r).await.unwrap();
        kept.push(r);
    }
    clock.advance(Duration::from_secs(2));
    assert_eq!(store.sweep_expired().await.unwrap().removed, 390);
    kept
}

/// A store at `path` on `clock` that compacts the file as it opens it.
fn open_compacting(path: &Path, clock: &MockClock) -> Result<FileStore, OpenError> {
    FileStore::builder(path)
        .clock(Arc::new(clock.clone()))
        .without_cleanup()
        .compact_on_open(true)
        .open()
}

/// Without compaction most of the space stays taken. The engine trims the
/// free pages at the file's end as it opens or closes it, and how many
/// those are depends on where concurrent commits put their pages: a fifth
/// of the file has been seen to go. Compaction leaves under 1%.
fn assert_still_large(path: &Path, grown: u64) {
    let len = file_len(path);
    assert!(len > grown / 4, "{len} of {grown} bytes left");
}

async fn assert_kept(store: &FileStore, kept: &[SessionRecord]) {
    for r in kept {
        assert_eq!(store.load(&r.id).await.unwrap().as_ref(), Some(r));
    }
    assert_eq!(store.list_for_user("ada").await.unwrap().len(), kept.len());
    assert!(store.check().await.unwrap().is_consistent());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_at_open_shrinks_the_file_and_keeps_live_sessions() {
    let clock = MockClock::starting_now();
    let (_dir, path) = temp_path();
    let kept = file_after_a_burst(&path, &clock).await;
    let grown = file_len(&path);
    assert!(grown > 6 << 20, "the burst grew the file to {grown} bytes");

    // Without compaction the space stays taken.
    drop(open_at(&path, &clock));
    assert_still_large(&path, grown);

    let store = open_compacting(&path, &clock).unwrap();
    let compacted = file_len(&path);
    assert!(
        compacted < grown / 16,
        "compaction left {compacted} of {grown} bytes"
    );
    assert_kept(&store, &kept).await;

    // The compacted file takes writes and reopens as usual.
    let more = record(clock.now(), HOUR, Some("ada"));
    store.create(&more).await.unwrap();
    drop(store);
    let store = open_at(&path, &clock);
    assert_kept(&store, &[kept, vec![more]].concat()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_of_a_new_file_leaves_a_working_store() {
    let clock = MockClock::starting_now();
    let (_dir, path) = temp_path();
    let store = open_compacting(&path, &clock).unwrap();
    let r = record(clock.now(), HOUR, Some("ada"));
    store.create(&r).await.unwrap();
    assert_kept(&store, std::slice::from_ref(&r)).await;
}

/// The engine refuses to compact a file holding a savepoint (which this
/// store never makes, but another tool on the file may have): the store
/// opens as it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_cannot_be_compacted_opens_as_it_is() {
    let clock = MockClock::starting_now();
    let (_dir, path) = temp_path();
    let kept = file_after_a_burst(&path, &clock).await;
    {
        let db = redb::Database::open(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.persistent_savepoint().unwrap();
        txn.commit().unwrap();
    }
    let grown = file_len(&path);

    let store = open_compacting(&path, &clock).expect("opened without compaction");
    assert_still_large(&path, grown);
    assert_kept(&store, &kept).await;
}
