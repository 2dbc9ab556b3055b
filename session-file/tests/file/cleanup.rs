//! Expired sessions leave the file through the expiry index, by a sweep or the
//! background cleanup thread, which outlives a sweep that panics and stops
//! cleanly.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use session_core::clock::Clock;
use session_core::{MockClock, SessionStore, Timestamp};
use session_file::{FileStore, StoreStats};

use crate::support::{HOUR, open_at, record, temp_path};

async fn wait_for_records(store: &FileStore, records: u64) -> StoreStats {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stats = store.stats().await.unwrap();
        if stats.records == records || Instant::now() > deadline {
            return stats;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweep_reads_only_the_expired_part_of_the_index() {
    let clock = MockClock::starting_now();
    let (_dir, path) = temp_path();
    let store = open_at(&path, &clock);
    for i in 0..200 {
        let user = (i % 2 == 0).then_some("many");
        store
            .create(&record(clock.now(), HOUR, user))
            .await
            .unwrap();
    }
    let mut short = Vec::new();
    for _ in 0..3 {
        let r = record(clock.now(), Duration::from_secs(1), Some("brief"));
        store.create(&r).await.unwrap();
        short.push(r.id);
    }
    clock.advance(Duration::from_secs(2));
    assert_eq!(store.stats().await.unwrap().records, 203);

    let report = store.sweep_expired().await.unwrap();
    assert_eq!(report.removed, 3);
    assert_eq!(report.examined, 3, "the sweep read live index entries");
    let stats = store.stats().await.unwrap();
    assert_eq!(
        stats,
        StoreStats {
            records: 200,
            expiry_entries: 200,
            user_entries: 100
        }
    );
    assert!(store.list_for_user("brief").await.unwrap().is_empty());
    let again = store.sweep_expired().await.unwrap();
    assert_eq!((again.removed, again.examined), (0, 0));
    assert!(store.check().await.unwrap().is_consistent());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweep_removes_more_than_one_batch() {
    let clock = MockClock::starting_now();
    let (_dir, path) = temp_path();
    let store = open_at(&path, &clock);
    for i in 0..700u64 {
        let life = Duration::from_millis(1 + i % 50);
        store
            .create(&record(clock.now(), life, Some("bulk")))
            .await
            .unwrap();
    }
    store
        .create(&record(clock.now(), HOUR, Some("bulk")))
        .await
        .unwrap();
    clock.advance(Duration::from_secs(1));
    let report = store.sweep_expired().await.unwrap();
    assert_eq!(report.removed, 700);
    assert_eq!(
        store.stats().await.unwrap(),
        StoreStats {
            records: 1,
            expiry_entries: 1,
            user_entries: 1
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_thread_removes_expired_sessions_and_stops_cleanly() {
    let clock = MockClock::starting_now();
    let (_dir, path) = temp_path();
    let store = FileStore::builder(&path)
        .clock(Arc::new(clock.clone()))
        .cleanup_interval(Duration::from_millis(10))
        .open()
        .unwrap();
    assert!(store.cleanup_running());
    let mut long = Vec::new();
    for i in 0..10 {
        let life = if i % 2 == 0 {
            Duration::from_secs(60)
        } else {
            HOUR
        };
        let r = record(clock.now(), life, Some("u"));
        store.create(&r).await.unwrap();
        if i % 2 == 1 {
            long.push(r.id);
        }
    }
    clock.advance(Duration::from_secs(61));
    let stats = wait_for_records(&store, 5).await;
    assert_eq!(
        stats,
        StoreStats {
            records: 5,
            expiry_entries: 5,
            user_entries: 5
        },
        "the cleanup thread did not remove the expired sessions"
    );
    let listed: Vec<_> = store
        .list_for_user("u")
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(listed.len(), 5);
    assert!(listed.iter().all(|id| long.contains(id)));

    let started = Instant::now();
    assert!(store.stop_cleanup());
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(!store.cleanup_running());
    assert!(!store.stop_cleanup(), "stopped twice");

    // Stopped: expired records stay (invisible) until someone sweeps.
    store
        .create(&record(clock.now(), Duration::from_secs(1), None))
        .await
        .unwrap();
    clock.advance(Duration::from_secs(2));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(store.stats().await.unwrap().records, 6);
    assert_eq!(store.sweep_expired().await.unwrap().removed, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_started_cleanup_handle_stops_on_stop_and_on_drop() {
    let clock = MockClock::starting_now();
    let (_dir, path) = temp_path();
    let store = open_at(&path, &clock);
    let handle = store.start_cleanup(Duration::from_millis(5)).unwrap();
    assert!(handle.is_running());
    store
        .create(&record(clock.now(), Duration::from_secs(1), None))
        .await
        .unwrap();
    clock.advance(Duration::from_secs(2));
    assert_eq!(wait_for_records(&store, 0).await.records, 0);
    let started = Instant::now();
    handle.stop();
    assert!(started.elapsed() < Duration::from_secs(5));

    // A dropped handle stops too, and the file then closes with the store.
    let handle = store.start_cleanup(Duration::from_millis(5)).unwrap();
    drop(handle);
    drop(store);
    let reopened = open_at(&path, &clock);
    assert_eq!(reopened.stats().await.unwrap().records, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_store_stops_its_cleanup_thread_and_closes_the_file() {
    let clock = MockClock::starting_now();
    let (_dir, path) = temp_path();
    for _ in 0..5 {
        let store = FileStore::builder(&path)
            .clock(Arc::new(clock.clone()))
            .cleanup_interval(Duration::from_millis(1))
            .open()
            .expect("the previous store closed its file");
        store
            .create(&record(clock.now(), Duration::from_millis(1), None))
            .await
            .unwrap();
        clock.advance(Duration::from_millis(2));
        tokio::time::sleep(Duration::from_millis(5)).await;
        let clone = store.clone();
        drop(store);
        assert!(clone.cleanup_running(), "a clone keeps the thread");
        drop(clone);
    }
}

/// A [`MockClock`] that panics when the cleanup thread reads it, as many
/// times as it is told to: a sweep that meets an unexpected state.
#[derive(Debug, Clone)]
struct PanickingClock {
    time: MockClock,
    panics: Arc<AtomicUsize>,
}

impl Clock for PanickingClock {
    fn now(&self) -> Timestamp {
        let on_cleanup_thread = std::thread::current().name() == Some("session-file-cleanup");
        if on_cleanup_thread
            && self
                .panics
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            panic!("the test clock fails inside a sweep");
        }
        self.time.now()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_that_panics_leaves_the_cleanup_thread_running() {
    let clock = PanickingClock {
        time: MockClock::starting_now(),
        panics: Arc::new(AtomicUsize::new(0)),
    };
    let (_dir, path) = temp_path();
    let store = FileStore::builder(&path)
        .clock(Arc::new(clock.clone()))
        .cleanup_interval(Duration::from_millis(10))
        .open()
        .unwrap();
    let doomed = record(clock.now(), Duration::from_secs(1), Some("u"));
    store.create(&doomed).await.unwrap();

    // The next sweep panics inside its write transaction, twice in a row.
    clock.panics.store(2, Ordering::SeqCst);
    clock.time.advance(Duration::from_secs(2));
    let deadline = Instant::now() + Duration::from_secs(10);
    while clock.panics.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        clock.panics.load(Ordering::SeqCst),
        0,
        "the cleanup thread did not sweep again after a sweep panicked"
    );

    // A later sweep removes the record the panicking ones left.
    let stats = wait_for_records(&store, 0).await;
    assert_eq!(
        stats,
        StoreStats::default(),
        "no sweep ran after the panics"
    );
    assert!(store.cleanup_running());

    // And the ones after it too; the file is still consistent.
    store
        .create(&record(clock.now(), Duration::from_secs(1), None))
        .await
        .unwrap();
    clock.time.advance(Duration::from_secs(2));
    assert_eq!(wait_for_records(&store, 0).await.records, 0);
    assert!(store.check().await.unwrap().is_consistent());
    assert!(store.cleanup_running());

    // Stopping is as prompt as ever.
    let started = Instant::now();
    assert!(store.stop_cleanup());
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(!store.cleanup_running());

    // The file opens again with what was committed: the panicking sweeps'
    // transactions were never committed.
    let kept = record(clock.now(), HOUR, Some("u"));
    store.create(&kept).await.unwrap();
    drop(store);
    let reopened = open_at(&path, &clock.time);
    assert_eq!(reopened.load(&kept.id).await.unwrap(), Some(kept));
    assert!(reopened.check().await.unwrap().is_consistent());
}
