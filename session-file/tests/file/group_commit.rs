//! Concurrent writes share commits: each is still applied whole, answered
//! after it is on disk, and kept across a reopen.

use std::time::Duration;

use session_core::clock::Clock as _;
use session_core::{MockClock, SaveOutcome, SessionStore, StoreError};

use crate::support::{HOUR, open_at, record, set_field, temp_path};

const WRITERS: usize = 64;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writes_all_land_and_survive_a_reopen() {
    let clock = MockClock::starting_now();
    let (_dir, path) = temp_path();
    let store = open_at(&path, &clock);
    let shared = record(clock.now(), HOUR, Some("ada"));
    store.create(&shared).await.unwrap();
    let now = clock.now();
    // Half create sessions, half save a field of their own in one shared
    // session, one refused for its size among them: all at once.
    let mut tasks = Vec::new();
    for n in 0..WRITERS {
        let (store, shared) = (store.clone(), shared.id);
        tasks.push(tokio::spawn(async move {
            if n % 2 == 0 {
                let created = record(now, HOUR, None);
                store.create(&created).await.map(|()| Some(created.id))
            } else if n == WRITERS - 1 {
                let huge = "x".repeat(store.max_record_bytes() + 1);
                let patch = set_field(now, "huge", &format!("\"{huge}\""));
                store.save(&shared, &patch).await.map(|_| None)
            } else {
                let patch = set_field(now, &format!("f{n}"), &n.to_string());
                let saved = store.save(&shared, &patch).await?;
                assert_eq!(saved, SaveOutcome::Saved);
                Ok(None)
            }
        }));
    }
    let mut created = Vec::new();
    for (n, task) in tasks.into_iter().enumerate() {
        match task.await.unwrap() {
            Ok(Some(id)) => created.push(id),
            Ok(None) => assert_ne!(n, WRITERS - 1, "the oversized save was taken"),
            Err(StoreError::TooLarge { .. }) if n == WRITERS - 1 => {}
            Err(error) => panic!("write {n} failed: {error}"),
        }
    }
    drop(store);

    clock.advance(Duration::from_secs(1));
    let store = open_at(&path, &clock);
    for id in &created {
        assert!(
            store.load(id).await.unwrap().is_some(),
            "a created session was lost"
        );
    }
    assert_eq!(created.len(), WRITERS / 2);
    let shared = store.load(&shared.id).await.unwrap().unwrap();
    for n in (1..WRITERS - 1).step_by(2) {
        assert_eq!(
            shared.fields.get(&format!("f{n}")),
            Some(n.to_string().as_str()),
            "field f{n} was lost"
        );
    }
    assert!(!shared.fields.contains("huge"));
}

/// Once every write is answered, the store dropped can be opened again at
/// once: the thread that committed them let go of the store before its
/// last answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_whose_writes_are_answered_opens_again_at_once() {
    let clock = MockClock::starting_now();
    let (_dir, path) = temp_path();
    for round in 0..20 {
        let store = open_at(&path, &clock);
        let now = clock.now();
        let session = record(now, HOUR, Some("ada"));
        store.create(&session).await.unwrap();
        let patch = set_field(now, "round", &round.to_string());
        assert_eq!(
            store.save(&session.id, &patch).await.unwrap(),
            SaveOutcome::Saved
        );
        if round % 2 == 0 {
            assert!(store.delete(&session.id).await.unwrap());
        }
        drop(store);
    }
    let store = open_at(&path, &clock);
    assert_eq!(store.list_for_user("ada").await.unwrap().len(), 10);
}
