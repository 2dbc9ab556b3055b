//! Dropping the store and opening the same file again keeps every live
//! session, with its indexes, and every change made to it.

use std::collections::HashMap;
use std::time::Duration;

use session_core::clock::Clock as _;
use session_core::{
    Binding, MockClock, PageRequest, SaveOutcome, SessionId, SessionRecord, SessionStore,
};

use crate::support::{HOUR, open_at, record, set_field, temp_path};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopening_keeps_every_live_session_and_its_indexes() {
    let clock = MockClock::starting_now();
    let (_dir, path) = temp_path();
    let store = open_at(&path, &clock);
    let users = [Some("ada"), Some("bob"), None];
    let mut ids = Vec::new();
    for i in 0..30 {
        let mut r = record(clock.now(), HOUR, users[i % 3]);
        if i % 4 == 0 {
            r.flash = [("notice", "\"welcome\"")].into_iter().collect();
        }
        store.create(&r).await.unwrap();
        ids.push(r.id);
    }
    clock.advance(Duration::from_secs(5));
    // Patch some, move the expiry of others, delete one, let one expire soon.
    for id in &ids[..10] {
        let p = set_field(clock.now(), "count", "2");
        assert_eq!(store.save(id, &p).await.unwrap(), SaveOutcome::Saved);
    }
    for id in &ids[10..15] {
        let later = clock.now().plus(HOUR * 5);
        assert_eq!(
            store.touch(id, later, clock.now(), None).await.unwrap(),
            SaveOutcome::Saved
        );
    }
    assert!(store.delete(&ids[20]).await.unwrap());
    let short = store
        .touch(
            &ids[21],
            clock.now().plus(Duration::from_secs(10)),
            clock.now(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(short, SaveOutcome::Saved);

    let mut before = HashMap::new();
    for id in &ids {
        before.insert(*id, store.load(id).await.unwrap());
    }
    let ada = store.list_for_user("ada").await.unwrap();
    let bob = store.list_for_user("bob").await.unwrap();
    let stats = store.stats().await.unwrap();
    drop(store);

    // The file closes with the last handle, so it opens again at once.
    let store = open_at(&path, &clock);
    for (id, record) in &before {
        assert_eq!(&store.load(id).await.unwrap(), record, "session changed");
    }
    assert_eq!(before[&ids[20]], None);
    assert_eq!(store.list_for_user("ada").await.unwrap(), ada);
    assert_eq!(store.list_for_user("bob").await.unwrap(), bob);
    assert_eq!(store.stats().await.unwrap(), stats);
    assert_eq!(stats.records, 29);
    assert_eq!(stats.expiry_entries, 29);
    assert_eq!(stats.user_entries, 20, "the deleted session had no user");
    let check = store.check().await.unwrap();
    assert!(check.is_consistent(), "{check:?}");
    assert_eq!(check.live, 29);

    // The indexes still work after the restart: expiry finds exactly the short one.
    clock.advance(Duration::from_secs(11));
    let swept = store.sweep_expired().await.unwrap();
    assert_eq!((swept.removed, swept.examined), (1, 1));
    assert_eq!(store.load(&ids[21]).await.unwrap(), None);
    let listed = store.list(PageRequest::first(100)).await.unwrap();
    assert_eq!(listed.items.len(), 28);
    assert_eq!(listed.next, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_with_the_default_clock_survives_restart() {
    let (_dir, path) = temp_path();
    let store = session_file::FileStore::open(&path).unwrap();
    let r = record(store.now(), HOUR, Some("carol"));
    store.create(&r).await.unwrap();
    drop(store);
    let store = session_file::FileStore::open(&path).unwrap();
    assert_eq!(store.load(&r.id).await.unwrap(), Some(r.clone()));
    assert_eq!(store.list_for_user("carol").await.unwrap()[0].id, r.id);
    assert!(store.cleanup_running());
    assert_eq!(
        store.load(&SessionId::generate()).await.unwrap(),
        None,
        "unknown id"
    );
}

/// A rebind is on disk when it returns: after a restart the session loads
/// with its new binding and everything else as it was, the user's other
/// session untouched and the indexes consistent; taken back, it stays so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebind_survives_reopening() {
    let clock = MockClock::starting_now();
    let (_dir, path) = temp_path();
    let store = open_at(&path, &clock);
    let mut r = record(clock.now(), HOUR, Some("ada"));
    r.flash = [("notice", "\"welcome\"")].into_iter().collect();
    store.create(&r).await.unwrap();
    let other = record(clock.now(), HOUR, Some("ada"));
    store.create(&other).await.unwrap();
    clock.advance(Duration::from_secs(5));
    let admin = Binding::user("ada")
        .with_label("laptop")
        .with_permissions(["admin", "billing"]);
    assert!(store.rebind(&r.id, &admin).await.unwrap());
    let rebound = SessionRecord {
        binding: Some(Box::new(admin)),
        ..r.clone()
    };
    drop(store);

    let store = open_at(&path, &clock);
    assert_eq!(store.load(&r.id).await.unwrap(), Some(rebound));
    assert_eq!(store.load(&other.id).await.unwrap(), Some(other.clone()));
    let mut listed: Vec<SessionId> = store
        .list_for_user("ada")
        .await
        .unwrap()
        .into_iter()
        .map(|info| info.id)
        .collect();
    listed.sort();
    let mut both = [r.id, other.id];
    both.sort();
    assert_eq!(listed, both);
    let stats = store.stats().await.unwrap();
    assert_eq!(
        (stats.records, stats.expiry_entries, stats.user_entries),
        (2, 2, 2)
    );
    let check = store.check().await.unwrap();
    assert!(check.is_consistent(), "{check:?}");

    let plain = Binding::user("ada").with_label("laptop");
    assert!(store.rebind(&r.id, &plain).await.unwrap());
    drop(store);
    let store = open_at(&path, &clock);
    assert_eq!(store.load(&r.id).await.unwrap(), Some(r));
}
