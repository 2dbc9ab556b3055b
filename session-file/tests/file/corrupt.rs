//! A record that does not decode is reported as `Corrupt`, never panics, never
//! blocks the other sessions and is never overwritten by `create`.

use redb::{Database, TableDefinition};
use session_core::clock::Clock as _;
use session_core::{
    Key, MockClock, PageRequest, SaveOutcome, SessionService, SessionStore, StoreError,
};

use crate::support::{HOUR, open_at, record, set_field, temp_path};

/// The record table as the store lays it out: raw id → envelope bytes.
const SESSIONS: TableDefinition<&[u8; 16], &[u8]> = TableDefinition::new("sessions");

/// Writes raw record bytes into the closed store's file.
fn overwrite(path: &std::path::Path, records: &[(&session_core::SessionId, &[u8])]) {
    let db = Database::create(path).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let mut table = txn.open_table(SESSIONS).unwrap();
        for (id, bytes) in records {
            table.insert(id.as_bytes(), *bytes).unwrap();
        }
    }
    txn.commit().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_record_is_reported_and_the_others_stay_readable() {
    let clock = MockClock::starting_now();
    let (_dir, path) = temp_path();
    let store = open_at(&path, &clock);
    let good = record(clock.now(), HOUR, Some("u"));
    let torn = record(clock.now(), HOUR, Some("u"));
    let future = record(clock.now(), HOUR, None);
    let swapped = record(clock.now(), HOUR, None);
    for r in [&good, &torn, &future, &swapped] {
        store.create(r).await.unwrap();
    }
    drop(store);

    // Damage three records behind the store's back.
    let good_bytes = session_core::record::envelope::encode(&good).unwrap();
    overwrite(
        &path,
        &[
            (&torn.id, &b"{\"v\":1,\"r\":{\"id\":"[..]),
            (&future.id, &b"{\"v\":2,\"r\":{}}"[..]),
            (&swapped.id, good_bytes.as_slice()),
        ],
    );

    let store = open_at(&path, &clock);
    assert_eq!(store.load(&good.id).await.unwrap(), Some(good.clone()));
    for id in [&torn.id, &future.id, &swapped.id] {
        assert!(
            matches!(store.load(id).await, Err(StoreError::Corrupt(_))),
            "a damaged record must load as Corrupt"
        );
    }
    let check = store.check().await.unwrap();
    assert_eq!(check.corrupt, 3);
    assert_eq!(check.live, 1);

    // Listings skip it.
    let listed = store.list_for_user("u").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, good.id);
    let page = store.list(PageRequest::first(10)).await.unwrap();
    assert_eq!(page.items.len(), 1);

    // It is never overwritten by create, nor patched.
    let mut again = record(clock.now(), HOUR, None);
    again.id = torn.id;
    assert!(matches!(
        store.create(&again).await,
        Err(StoreError::Collision)
    ));
    assert!(matches!(
        store
            .save(&torn.id, &set_field(clock.now(), "count", "2"))
            .await,
        Err(StoreError::Corrupt(_))
    ));

    // The store keeps working for the others.
    assert_eq!(
        store
            .save(&good.id, &set_field(clock.now(), "count", "2"))
            .await
            .unwrap(),
        SaveOutcome::Saved
    );
    assert_eq!(
        store
            .load(&good.id)
            .await
            .unwrap()
            .unwrap()
            .fields
            .get("count"),
        Some("2")
    );

    // Deleting removes it; revoking all of the user's sessions removes it too.
    assert!(store.delete(&future.id).await.unwrap());
    assert_eq!(store.load(&future.id).await.unwrap(), None);
    assert_eq!(
        store.delete_for_user("u", Some(&good.id)).await.unwrap(),
        0,
        "a corrupt record is not counted as a live session"
    );
    assert_eq!(store.load(&torn.id).await.unwrap(), None);
    assert!(store.load(&good.id).await.unwrap().is_some());

    // The expiry cleanup removes what is left once it is indexed as expired.
    clock.advance(HOUR * 2);
    let swept = store.sweep_expired().await.unwrap();
    assert_eq!(swept.removed, 2, "the good and the swapped record");
    let check = store.check().await.unwrap();
    assert!(check.is_consistent(), "{check:?}");
    assert_eq!(check.records, 0);
}

/// A service on a store holding `N` sessions of user `u` whose records were
/// then torn behind the store's back, and those records (as written).
async fn service_over_torn_records<const N: usize>() -> (
    SessionService,
    [session_core::SessionRecord; N],
    tempfile::TempDir,
) {
    let clock = MockClock::starting_now();
    let (dir, path) = temp_path();
    let store = open_at(&path, &clock);
    let records = std::array::from_fn(|_| record(clock.now(), HOUR, Some("u")));
    for r in &records {
        store.create(r).await.unwrap();
    }
    drop(store);
    let torn = b"{\"v\":1,\"r\":{\"id\":";
    let damaged: Vec<_> = records.iter().map(|r| (&r.id, &torn[..])).collect();
    overwrite(&path, &damaged);
    let service = SessionService::builder()
        .store(open_at(&path, &clock))
        .key(Key::new([7u8; 32]).unwrap())
        .clock(std::sync::Arc::new(clock))
        .build()
        .unwrap();
    (service, records, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_treats_a_corrupt_record_as_no_session() {
    let (service, [torn], _dir) = service_over_torn_records().await;
    assert_eq!(service.record(&torn.id).await.unwrap(), None);
    assert_eq!(service.user_id(&torn.id).await.unwrap(), None);
    assert_eq!(service.meta(&torn.id).await.unwrap(), None);
    assert!(!service.revoke("u", &torn.id).await.unwrap());
    let token = service.token_for(&torn.id);
    let cell = service.load(Some(&token)).await.unwrap();
    assert!(!cell.lock().is_loaded());
}

/// A corrupt record may still hold a login (its user's index lists it): a
/// logout on its token deletes it, and so does a login, which moves the
/// client to a new session as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_or_login_on_a_corrupt_record_deletes_it() {
    let (service, [logged_out, logged_in], _dir) = service_over_torn_records().await;

    let cell = service
        .load(Some(&service.token_for(&logged_out.id)))
        .await
        .unwrap();
    assert_eq!(
        cell.lock().continued_id(),
        None,
        "no request goes on with a corrupt record: revoking the others must not keep it"
    );
    cell.lock().destroy();
    let persisted = service.persist(&cell).await.unwrap();
    assert_eq!(persisted.outcome, session_core::PersistOutcome::Destroyed);

    let cell = service
        .load(Some(&service.token_for(&logged_in.id)))
        .await
        .unwrap();
    let new_id = cell.lock().login(session_core::Binding::user("u"));
    service.persist(&cell).await.unwrap();

    let store = service.store();
    for id in [&logged_out.id, &logged_in.id] {
        assert!(
            matches!(store.load(id).await, Ok(None)),
            "the corrupt record was left behind"
        );
    }
    let listed = store.list_for_user("u").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, new_id);
}

/// A record changed outside the store (here: moved to another user and a
/// later expiry by hand) is out of its indexes until `repair_indexes`; after
/// it, the record's new user can revoke it and its old user no longer lists
/// it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repair_indexes_brings_records_changed_outside_the_store_back_in_reach() {
    let clock = MockClock::starting_now();
    let (_dir, path) = temp_path();
    let original = record(clock.now(), HOUR, Some("alice"));
    let kept = record(clock.now(), HOUR, Some("bob"));
    let torn = record(clock.now(), HOUR, Some("bob"));
    let store = open_at(&path, &clock);
    for r in [&original, &kept, &torn] {
        store.create(r).await.unwrap();
    }
    drop(store);
    let mut edited = original.clone();
    edited.binding = Some(Box::new(session_core::Binding::user("bob")));
    edited.expires_at = clock.now().plus(HOUR * 2);
    let bytes = session_core::record::envelope::encode(&edited).unwrap();
    overwrite(&path, &[(&original.id, &bytes), (&torn.id, b"{\"v\":1,")]);

    let store = open_at(&path, &clock);
    assert_eq!(store.check().await.unwrap().missing_index_entries, 2);
    let repaired = store.repair_indexes().await.unwrap();
    assert_eq!((repaired.added, repaired.removed), (2, 2));
    let check = store.check().await.unwrap();
    assert_eq!(
        (
            check.corrupt,
            check.missing_index_entries,
            check.stale_index_entries
        ),
        (1, 0, 0)
    );
    assert_eq!(
        store.repair_indexes().await.unwrap().added,
        0,
        "nothing left to do"
    );
    assert!(store.list_for_user("alice").await.unwrap().is_empty());
    assert_eq!(
        store.delete_for_user("bob", Some(&kept.id)).await.unwrap(),
        1
    );
    assert_eq!(store.load(&original.id).await.unwrap(), None);
    assert!(store.load(&kept.id).await.unwrap().is_some());
    // The damaged record kept its expiry entry, so the cleanup still removes it.
    clock.advance(HOUR * 2);
    store.sweep_expired().await.unwrap();
    assert_eq!(store.stats().await.unwrap().records, 0);
}

/// A corrupt record of a user, deleted by id (a logout) or swept once
/// expired, cannot say whose it was, so its user-index entry stays behind:
/// harmless (readers check every entry), and the cleanup leaves it (it
/// walks the expiry index). The user's next listing removes it, as a
/// revoke-all or `repair_indexes` would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_corrupt_records_user_entry_goes_with_the_users_next_listing() {
    let clock = MockClock::starting_now();
    let (_dir, path) = temp_path();
    let store = open_at(&path, &clock);
    let logged_out = record(clock.now(), HOUR, Some("u"));
    let expired = record(clock.now(), HOUR, Some("u"));
    for r in [&logged_out, &expired] {
        store.create(r).await.unwrap();
    }
    drop(store);
    overwrite(
        &path,
        &[
            (&logged_out.id, &b"{\"v\":1,"[..]),
            (&expired.id, &b"{\"v\":1,"[..]),
        ],
    );

    let store = open_at(&path, &clock);
    assert!(store.delete(&logged_out.id).await.unwrap());
    clock.advance(HOUR * 2);
    let swept = store.sweep_expired().await.unwrap();
    assert_eq!(swept.removed, 1);
    assert_eq!(store.stats().await.unwrap().records, 0);
    let check = store.check().await.unwrap();
    assert_eq!(
        (check.stale_index_entries, check.missing_index_entries),
        (2, 0),
        "{check:?}"
    );
    assert!(store.list_for_user("u").await.unwrap().is_empty());
    let check = store.check().await.unwrap();
    assert!(check.is_consistent(), "{check:?}");
}

/// What the user index entry a deleted corrupt record leaves behind means
/// to its user before any listing removed it: nothing. A revoke-all counts
/// only the live session it deletes, a listing shows only live sessions, and
/// a new session of the user is listed alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_corrupt_records_user_entry_is_never_listed_nor_counted() {
    let clock = MockClock::starting_now();
    let (_dir, path) = temp_path();
    let store = open_at(&path, &clock);
    let torn = record(clock.now(), HOUR, Some("u"));
    store.create(&torn).await.unwrap();
    drop(store);
    overwrite(&path, &[(&torn.id, &b"{\"v\":1,"[..])]);

    let store = open_at(&path, &clock);
    assert!(store.delete(&torn.id).await.unwrap());
    assert_eq!(store.stats().await.unwrap().user_entries, 1, "left behind");
    let live = record(clock.now(), HOUR, Some("u"));
    store.create(&live).await.unwrap();
    assert_eq!(store.delete_for_user("u", None).await.unwrap(), 1);
    assert!(store.list_for_user("u").await.unwrap().is_empty());
    assert_eq!(store.stats().await.unwrap().user_entries, 0, "gone with it");

    let again = record(clock.now(), HOUR, Some("u"));
    store.create(&again).await.unwrap();
    let listed = store.list_for_user("u").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, again.id);
}
