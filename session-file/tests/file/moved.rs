//! The marker a login leaves under a moved session's old id, in the file:
//! it outlives a restart, so a write sent with the old cookie before the
//! login's answer came back is still dropped by the restarted server
//! instead of starting a session whose cookie would replace the login's.

use std::sync::Arc;
use std::time::Duration;

use session_core::{
    Binding, CookieAction, Key, MockClock, PersistOutcome, Persisted, SessionService, SessionStore,
};
use session_file::FileStore;

use crate::support::{open_at, temp_path};

fn service(store: FileStore, clock: &MockClock) -> SessionService {
    SessionService::builder()
        .store(store)
        .key(Key::new([7u8; 32]).unwrap())
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap()
}

fn token(p: &Persisted) -> String {
    match &p.cookie {
        CookieAction::Set { token, .. } => token.clone(),
        other => panic!("expected a cookie to be set, got {other:?}"),
    }
}

async fn write(service: &SessionService, token: Option<&str>, value: &str) -> Persisted {
    let cell = service.load(token).await.unwrap();
    cell.lock().set_field("n", value);
    service.persist(&cell).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_write_after_a_login_is_dropped_after_a_restart_too() {
    let (_dir, path) = temp_path();
    let clock = MockClock::starting_now();
    let (visit, old) = {
        let service = service(open_at(&path, &clock), &clock);
        let visit = write(&service, None, "1").await;
        let cell = service.load(Some(&token(&visit))).await.unwrap();
        cell.lock().login(Binding::user("u"));
        let login = service.persist(&cell).await.unwrap();
        assert_eq!(login.outcome, PersistOutcome::Rotated);
        (token(&visit), visit.id.unwrap())
    };

    let store = open_at(&path, &clock);
    assert_eq!(store.load(&old).await.unwrap(), None);
    let service = service(store, &clock);
    let late = write(&service, Some(&visit), "2").await;
    assert_eq!(late.outcome, PersistOutcome::Vanished);
    assert_eq!(late.cookie, CookieAction::Keep);
    assert_eq!(service.list_for_user("u").await.unwrap().len(), 1);

    clock.advance(Duration::from_secs(61));
    let afresh = write(&service, Some(&visit), "3").await;
    assert_eq!(afresh.outcome, PersistOutcome::Created);
}

/// A move of a logged-in session (a rotation, or a login again) leaves a
/// marker naming the new id. The file store writes records as JSON, each
/// data value as raw JSON text, and the marker's `moved_to` value is the
/// bare id, which is not JSON: the marker does not encode, its create
/// fails (logged), and no marker is left. A write sent with the old cookie
/// before the rotation's answer came back then starts a new session whose
/// cookie replaces the rotated one, and a logout racing the move cannot
/// follow it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_of_a_logged_in_session_leaves_its_marker() {
    let (_dir, path) = temp_path();
    let clock = MockClock::starting_now();
    let store = open_at(&path, &clock);
    let service = service(store.clone(), &clock);
    let visit = write(&service, None, "1").await;
    let cell = service.load(Some(&token(&visit))).await.unwrap();
    cell.lock().login(Binding::user("u"));
    let login = service.persist(&cell).await.unwrap();
    assert_eq!(login.outcome, PersistOutcome::Rotated);

    let cell = service.load(Some(&token(&login))).await.unwrap();
    let rotated_id = cell.lock().rotate().expect("a stored session to move");
    let rotated = service.persist(&cell).await.unwrap();
    assert_eq!(rotated.outcome, PersistOutcome::Rotated);

    let old = login.id.unwrap();
    let marker = store.load(&old.moved_marker_id()).await;
    assert_eq!(
        marker
            .as_ref()
            .ok()
            .and_then(|m| m.as_ref())
            .and_then(|m| m.moved_to()),
        Some(rotated_id),
        "no marker naming the new id: {marker:?}"
    );

    // The late write is dropped, not turned into a new session.
    let late = write(&service, Some(&token(&login)), "2").await;
    assert_eq!(late.outcome, PersistOutcome::Vanished);
    assert_eq!(late.cookie, CookieAction::Keep);

    // A late logout with the old cookie ends the moved session.
    let cell = service.load(Some(&token(&login))).await.unwrap();
    cell.lock().destroy();
    service.persist(&cell).await.unwrap();
    assert!(service.list_for_user("u").await.unwrap().is_empty());
}
