//! A file its last process left open (a kill, a crash, a power cut) opens at
//! its last complete commit, and the open says so in the log: an operator
//! learns that the app stopped without closing the store, and, when the
//! last commit was cut short, that it was dropped.
//!
//! A kill is simulated by reading the file while the store still has it
//! open (what the kernel holds for a killed process is what it wrote), a
//! torn commit by putting back, in such a copy, the pages that the last
//! commit wrote: its header slot reached the disk, its pages did not.

use std::path::Path;
use std::sync::Arc;

use session_core::clock::Clock as _;
use session_core::{MockClock, SessionRecord, SessionStore};
use session_file::FileStore;

use crate::support::{HOUR, open_at, record, temp_path};
use session_tests::logs::capture;

/// The engine's page size: the unit a torn write leaves in one piece.
const PAGE: usize = 4096;

/// Opens `path` on `clock` with the integrity check `check`, capturing
/// what the open logs.
fn open_logged(path: &Path, clock: &MockClock, check: bool) -> (FileStore, String) {
    let (logged, _guard) = capture();
    let store = FileStore::builder(path)
        .clock(Arc::new(clock.clone()))
        .check_integrity_on_open(check)
        .without_cleanup()
        .open()
        .expect("the file opens at its last complete commit");
    (store, logged.text())
}

/// Warnings among `logged` that mention `words`.
fn warnings_with<'a>(logged: &'a str, words: &str) -> Vec<&'a str> {
    logged
        .lines()
        .filter(|line| line.contains(" WARN ") && line.contains(words))
        .collect()
}

async fn holds_only(store: &FileStore, kept: &[&SessionRecord], gone: &[&SessionRecord]) {
    for r in kept {
        assert_eq!(store.load(&r.id).await.unwrap().as_ref(), Some(*r));
    }
    for r in gone {
        assert_eq!(store.load(&r.id).await.unwrap(), None);
    }
    let check = store.check().await.unwrap();
    assert!(check.is_consistent(), "{check:?}");
    assert_eq!(check.records, kept.len());
    let listed = store.list_for_user("u").await.unwrap();
    assert_eq!(listed.len(), kept.len(), "the user index holds the same");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_left_open_by_a_kill_opens_with_a_warning() {
    let clock = MockClock::starting_now();
    let (dir, path) = temp_path();
    let store = open_at(&path, &clock);
    let kept = record(clock.now(), HOUR, Some("u"));
    store.create(&kept).await.unwrap();
    let killed = std::fs::read(&path).unwrap();
    drop(store);

    // Closed by the app: nothing to say.
    for check in [true, false] {
        let (store, logged) = open_logged(&path, &clock, check);
        assert!(
            warnings_with(&logged, "not closed").is_empty(),
            "a cleanly closed file: {logged}"
        );
        holds_only(&store, &[&kept], &[]).await;
    }

    for check in [true, false] {
        let copy = dir.path().join(format!("killed-{check}.redb"));
        std::fs::write(&copy, &killed).unwrap();
        let (store, logged) = open_logged(&copy, &clock, check);
        let warned = warnings_with(&logged, "not closed");
        assert_eq!(warned.len(), 1, "check {check}: {logged}");
        assert!(
            warned[0].contains("killed-"),
            "names the file: {}",
            warned[0]
        );
        assert!(
            warnings_with(&logged, "incomplete").is_empty(),
            "nothing was dropped: {logged}"
        );
        holds_only(&store, &[&kept], &[]).await;
        // Opened and closed again: the next open has nothing to say.
        drop(store);
        let (_store, logged) = open_logged(&copy, &clock, check);
        assert!(warnings_with(&logged, "not closed").is_empty(), "{logged}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_last_commit_is_dropped_with_a_warning() {
    let clock = MockClock::starting_now();
    let (dir, path) = temp_path();
    let store = open_at(&path, &clock);
    let kept = record(clock.now(), HOUR, Some("u"));
    store.create(&kept).await.unwrap();
    let before = std::fs::read(&path).unwrap();
    let mut torn = record(clock.now(), HOUR, Some("u"));
    torn.fields
        .insert("blob", format!("\"{}\"", "t".repeat(3 * PAGE)).as_str());
    store.create(&torn).await.unwrap();
    let after = std::fs::read(&path).unwrap();
    drop(store);

    // The header (page 0) names the last commit; the pages it wrote are
    // back as they were before it (zeros where the file grew for it).
    let mut lost = after.clone();
    let mut reverted = 0;
    for (page, bytes) in lost.chunks_mut(PAGE).enumerate().skip(1) {
        let start = page * PAGE;
        let old = before.get(start..start + bytes.len());
        if old != Some(&*bytes) {
            match old {
                Some(old) => bytes.copy_from_slice(old),
                None => bytes.fill(0),
            }
            reverted += 1;
        }
    }
    assert!(reverted > 0, "the last commit wrote pages");

    for check in [true, false] {
        let copy = dir.path().join(format!("torn-{check}.redb"));
        std::fs::write(&copy, &lost).unwrap();
        let (store, logged) = open_logged(&copy, &clock, check);
        let warned = warnings_with(&logged, "incomplete");
        assert_eq!(warned.len(), 1, "check {check}: {logged}");
        assert!(warned[0].contains("torn-"), "names the file: {}", warned[0]);
        assert!(warned[0].contains("dropped"), "{}", warned[0]);
        holds_only(&store, &[&kept], &[&torn]).await;
        // The store goes on from there.
        let next = record(clock.now(), HOUR, Some("u"));
        store.create(&next).await.unwrap();
        holds_only(&store, &[&kept, &next], &[&torn]).await;
    }
}
