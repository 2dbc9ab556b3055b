//! The marker a login leaves under a moved session's old id, on a real
//! Redis: a write sent with the old cookie before the login's answer came
//! back is dropped instead of starting a session whose cookie would replace
//! the login's.

use std::sync::Arc;
use std::time::Duration;

use session_core::{
    Binding, CookieAction, Key, MockClock, PersistOutcome, Persisted, SessionService, SessionStore,
};
use session_redis::RedisStore;

use crate::support;

fn service(store: &RedisStore, clock: &MockClock) -> SessionService {
    SessionService::builder()
        .store(store.clone())
        .key(Key::new([7u8; 32]).unwrap())
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap()
}

fn token(p: &Persisted) -> &str {
    match &p.cookie {
        CookieAction::Set { token, .. } => token,
        other => panic!("expected a cookie to be set, got {other:?}"),
    }
}

/// A write through `token`: what persist answers.
async fn write(service: &SessionService, token: Option<&str>, value: &str) -> Persisted {
    let cell = service.load(token).await.unwrap();
    cell.lock().set_field("n", value);
    service.persist(&cell).await.unwrap()
}

async fn a_late_write_after_a_login_is_dropped(store: RedisStore, clock: MockClock) {
    let service = service(&store, &clock);
    let visit = write(&service, None, "1").await;
    let old = visit.id.unwrap();
    let cell = service.load(Some(token(&visit))).await.unwrap();
    cell.lock().login(Binding::user("u"));
    let login = service.persist(&cell).await.unwrap();
    assert_eq!(login.outcome, PersistOutcome::Rotated);
    assert_eq!(store.load(&old).await.unwrap(), None);
    let marker = store.load(&old.moved_marker_id()).await.unwrap();
    assert!(marker.is_some_and(|m| m.is_moved_marker() && m.fields.is_empty()));

    let late = write(&service, Some(token(&visit)), "2").await;
    assert_eq!(late.outcome, PersistOutcome::Vanished);
    assert_eq!(late.cookie, CookieAction::Keep);
    let cell = service.load(Some(token(&login))).await.unwrap();
    assert_eq!(cell.lock().field("n"), Some("1"));
    assert_eq!(service.list_for_user("u").await.unwrap().len(), 1);

    // A rotation of the logged-in session closes and deletes the old
    // record: the user's index lists the new id alone.
    let cell = service.load(Some(token(&login))).await.unwrap();
    cell.lock().set_field("n", "4");
    let rotated_id = cell.lock().rotate().expect("a stored session to move");
    let rotated = service.persist(&cell).await.unwrap();
    assert_eq!(rotated.outcome, PersistOutcome::Rotated);
    let listed: Vec<_> = store
        .list_for_user("u")
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(listed, vec![rotated_id]);
    // The closed old record, kept a while for a resent close, is listed by
    // nothing and loads as nothing.
    let mut page = session_core::PageRequest::first(1000);
    loop {
        let p = store.list(page.clone()).await.unwrap();
        assert!(
            p.items.iter().all(|i| i.id != login.id.unwrap()),
            "{:?}",
            p.items
        );
        match p.next {
            Some(next) => page.cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(store.load(&login.id.unwrap()).await.unwrap(), None);
    let cell = service.load(Some(token(&rotated))).await.unwrap();
    assert_eq!(cell.lock().field("n"), Some("4"));

    // Once the marker is past, the old cookie is a visitor's whose session
    // is gone: a write starts a new session.
    clock.advance(Duration::from_secs(61));
    let afresh = write(&service, Some(token(&visit)), "3").await;
    assert_eq!(afresh.outcome, PersistOutcome::Created);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_write_after_a_login_is_dropped_on_a_standalone_server() {
    let Some(server) = support::standalone() else {
        return;
    };
    let clock = MockClock::starting_now();
    a_late_write_after_a_login_is_dropped(support::store_on(server, &clock), clock).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_write_after_a_login_is_dropped_with_the_local_cache() {
    let Some(server) = support::standalone() else {
        return;
    };
    let clock = MockClock::starting_now();
    let store = support::builder(&clock)
        .url(server.url())
        .local_cache(100)
        .build()
        .expect("store");
    a_late_write_after_a_login_is_dropped(store, clock).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_write_after_a_login_is_dropped_on_a_cluster() {
    let Some(cluster) = support::cluster() else {
        return;
    };
    let clock = MockClock::starting_now();
    a_late_write_after_a_login_is_dropped(support::cluster_store_on(cluster, &clock), clock).await;
}

/// A rotation of a logged-in session used to delete the old record with
/// the delete script, which answers the user and so takes the old id out
/// of the user's index. The rotation now first closes the old record (a
/// save moving its expiry to the epoch), and Redis drops the key at once
/// (`PEXPIREAT` in the past): the delete then finds nothing, answers no
/// user, and the old id's entry stays in the index, scored with the old
/// session's expiry, until a listing happens to clean it. Each rotation or
/// login again of a logged-in session leaves one more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_of_a_logged_in_session_takes_the_old_id_out_of_the_user_index() {
    let Some(server) = support::standalone() else {
        return;
    };
    let clock = MockClock::starting_now();
    let store = support::store_on(server, &clock);
    let service = service(&store, &clock);
    let user = format!("u-{}", session_core::SessionId::generate());
    let visit = write(&service, None, "1").await;
    let cell = service.load(Some(token(&visit))).await.unwrap();
    cell.lock().login(Binding::user(user.as_str()));
    let login = service.persist(&cell).await.unwrap();
    assert_eq!(login.outcome, PersistOutcome::Rotated);

    let cell = service.load(Some(token(&login))).await.unwrap();
    cell.lock().set_field("n", "2");
    let rotated_id = cell.lock().rotate().expect("a stored session to move");
    let rotated = service.persist(&cell).await.unwrap();
    assert_eq!(rotated.outcome, PersistOutcome::Rotated);

    let mut admin = support::admin(server).await;
    let members: Vec<String> = redis::cmd("ZRANGE")
        .arg(store.user_index_key(&user))
        .arg(0)
        .arg(-1)
        .query_async(&mut admin)
        .await
        .expect("ZRANGE");
    assert_eq!(
        members,
        vec![rotated_id.to_string()],
        "the old id {} is still indexed",
        login.id.unwrap()
    );
}
