//! A file capped with `max_sessions`: anonymous creates past the cap are
//! refused (a flood of cookieless writes cannot fill the disk), logins and
//! markers still go in, and expired records make room.

use std::sync::Arc;
use std::time::Duration;

use session_core::clock::Clock;
use session_core::{MockClock, SessionId, SessionRecord, SessionStore, StoreError};
use session_file::FileStore;

use crate::support::{HOUR, record, temp_path};

/// A store at `path` holding at most `max` records, without a cleanup thread.
fn capped(path: &std::path::Path, clock: &MockClock, max: usize) -> FileStore {
    FileStore::builder(path)
        .clock(Arc::new(clock.clone()))
        .without_cleanup()
        .max_sessions(max)
        .open()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capped_file_refuses_anonymous_sessions_past_its_cap_and_still_takes_logins() {
    let clock = MockClock::starting_now();
    let (_dir, path) = temp_path();
    let store = capped(&path, &clock, 3);
    for _ in 0..3 {
        store
            .create(&record(clock.now(), HOUR, None))
            .await
            .unwrap();
    }
    let refused = store.create(&record(clock.now(), HOUR, None)).await;
    assert!(
        matches!(refused, Err(StoreError::Unavailable(_))),
        "{refused:?}"
    );
    assert_eq!(store.stats().await.unwrap().records, 3, "nothing written");

    let login = record(clock.now(), HOUR, Some("ada"));
    store.create(&login).await.unwrap();
    let now = clock.now();
    let marker = SessionRecord::moved_marker(SessionId::generate(), None, now, now.plus(HOUR));
    store.create(&marker).await.unwrap();
    assert!(store.load(&login.id).await.unwrap().is_some());
    assert_eq!(store.list_for_user("ada").await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_records_make_room_in_a_capped_file() {
    let clock = MockClock::starting_now();
    let (_dir, path) = temp_path();
    let store = capped(&path, &clock, 2);
    store
        .create(&record(clock.now(), Duration::from_secs(1), None))
        .await
        .unwrap();
    store
        .create(&record(clock.now(), HOUR, None))
        .await
        .unwrap();
    assert!(
        store
            .create(&record(clock.now(), HOUR, None))
            .await
            .is_err()
    );
    clock.advance(Duration::from_secs(2));
    let fresh = record(clock.now(), HOUR, None);
    store
        .create(&fresh)
        .await
        .expect("the expired record made room");
    assert!(store.load(&fresh.id).await.unwrap().is_some());
    assert_eq!(store.stats().await.unwrap().records, 2);
}
