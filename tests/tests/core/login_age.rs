//! `SessionState::logged_in_at`: when a session's user logged in, kept
//! through refreshes and rotations, renewed by a login.

use session_core::{Binding, Clock as _, SessionService};

use crate::support::{MIN, env, token};
use session_tests::profile::{Profile, set_age};

/// The login time a request carrying `token` sees.
async fn logged_in_at(service: &SessionService, token: &str) -> Option<u64> {
    let cell = service.load(Some(token)).await.unwrap();
    cell.lock().logged_in_at().map(|t| t.as_millis())
}

#[tokio::test]
async fn a_login_time_is_the_logins_and_survives_refreshes_and_rotations() {
    let env = env();
    let service = &env.service;
    // Anonymous: no login time.
    let mut s = service.get::<Profile>(None).await.unwrap();
    set_age(&mut s, Some(1));
    let anonymous = token(&service.commit(&mut s).await.unwrap());
    assert_eq!(logged_in_at(service, &anonymous).await, None);

    env.clock.advance(MIN);
    let logged_in = env.clock.now().as_millis();
    let mut s = service.get::<Profile>(Some(&anonymous)).await.unwrap();
    s.login(Binding::user("ada"));
    assert_eq!(
        s.cell().lock().logged_in_at().map(|t| t.as_millis()),
        Some(logged_in),
        "a login in this request"
    );
    let t = token(&service.commit(&mut s).await.unwrap());

    // Later requests: a write, a sliding refresh (past half the hour), a
    // rotation: the login stays where it was.
    env.clock.advance(40 * MIN);
    let mut s = service.get::<Profile>(Some(&t)).await.unwrap();
    set_age(&mut s, Some(2));
    service.commit(&mut s).await.unwrap();
    assert_eq!(logged_in_at(service, &t).await, Some(logged_in));
    let cell = service.load(Some(&t)).await.unwrap();
    cell.lock().rotate().expect("a session to move");
    assert_eq!(
        cell.lock().logged_in_at().map(|ts| ts.as_millis()),
        Some(logged_in)
    );
    let rotated = token(&service.persist(&cell).await.unwrap());
    assert_eq!(logged_in_at(service, &rotated).await, Some(logged_in));

    // Logging in again renews it; a logout ends it.
    env.clock.advance(MIN);
    let again = env.clock.now().as_millis();
    let mut s = service.get::<Profile>(Some(&rotated)).await.unwrap();
    s.login(Binding::user("ada"));
    let renewed = token(&service.commit(&mut s).await.unwrap());
    assert_eq!(logged_in_at(service, &renewed).await, Some(again));
    let cell = service.load(Some(&renewed)).await.unwrap();
    cell.lock().destroy();
    assert_eq!(cell.lock().logged_in_at(), None);
}
