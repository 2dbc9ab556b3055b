//! Requests that carry a session's old token after a login (or rotation) in
//! another request moved it: sent by the browser before the login's answer
//! came back, they reach the server after the move.

use std::time::Duration;

use session_core::{
    Binding, CookieAction, PageRequest, PersistOutcome, Persisted, SessionService,
    SessionStore as _,
};

use crate::support::{Env, env, service_like, token};
use session_tests::hooked::{After, Hooked};
use session_tests::profile::{Profile, set_age};

/// An anonymous session with data, then a login moving it: the old token's
/// and the login's answers.
async fn logged_in_after_a_visit(env: &Env) -> (Persisted, Persisted) {
    let mut s = env.service.get::<Profile>(None).await.unwrap();
    set_age(&mut s, Some(20));
    let visit = env.service.commit(&mut s).await.unwrap();
    let mut s = env
        .service
        .get::<Profile>(Some(&token(&visit)))
        .await
        .unwrap();
    s.login(Binding::user("roger"));
    let login = env.service.commit(&mut s).await.unwrap();
    assert_eq!(login.outcome, PersistOutcome::Rotated);
    (visit, login)
}

/// A request writing through `token`: what persist answers.
async fn late_write(service: &SessionService, token: &str) -> Persisted {
    let mut late = service.get::<Profile>(Some(token)).await.unwrap();
    set_age(&mut late, Some(30));
    service.commit(&mut late).await.unwrap()
}

/// `login`'s session moved by a rotation (`Session::rotate`).
async fn rotated(env: &Env, login: &Persisted) -> Persisted {
    let cell = env.service.load(Some(&token(login))).await.unwrap();
    cell.lock().rotate().expect("a stored session to move");
    let rotated = env.service.persist(&cell).await.unwrap();
    assert_eq!(rotated.outcome, PersistOutcome::Rotated);
    rotated
}

/// Whether the session `persisted` handed out is logged in.
async fn logged_in(env: &Env, persisted: &Persisted) -> bool {
    let s = env.service.get::<Profile>(Some(&token(persisted))).await;
    s.unwrap().is_authenticated()
}

/// A late write's answer: dropped, the cookie left alone.
fn assert_dropped(persisted: &Persisted) {
    assert_eq!(
        persisted.cookie,
        CookieAction::Keep,
        "{:?}",
        persisted.outcome
    );
    assert_eq!(persisted.outcome, PersistOutcome::Vanished);
}

/// A late request writing through the old token: its answer would start a
/// new anonymous session whose cookie replaces the login's, logging the
/// browser out. It is dropped as a write whose session went during the
/// request is, and the cookie is left alone.
#[tokio::test]
async fn a_write_arriving_after_a_concurrent_login_leaves_the_logins_cookie_alone() {
    let env = env();
    let (visit, login) = logged_in_after_a_visit(&env).await;

    let mut late = env
        .service
        .get::<Profile>(Some(&token(&visit)))
        .await
        .unwrap();
    set_age(&mut late, Some(30));
    late.flash("notice", "late").unwrap();
    let persisted = env.service.commit(&mut late).await.unwrap();

    assert_dropped(&persisted);
    assert_eq!(persisted.id, None);
    let s = env
        .service
        .get::<Profile>(Some(&token(&login)))
        .await
        .unwrap();
    assert!(s.is_authenticated());
    assert_eq!(s.age, Some(20));
    assert_eq!(env.service.list_for_user("roger").await.unwrap().len(), 1);
}

/// What the old id leaves behind tells nothing: no data, no login (a
/// fixated pre-login id gains nothing), no record by id, no listing entry.
#[tokio::test]
async fn a_moved_session_shows_nothing_under_its_old_id() {
    let env = env();
    let (visit, _) = logged_in_after_a_visit(&env).await;
    let old_id = visit.id.unwrap();

    let late = env
        .service
        .get::<Profile>(Some(&token(&visit)))
        .await
        .unwrap();
    assert!(!late.is_authenticated());
    assert_eq!(late.age, None);
    assert_eq!(late.session_id(), None);
    assert_eq!(env.service.record(&old_id).await.unwrap(), None);
    assert_eq!(env.service.user_id(&old_id).await.unwrap(), None);
    let listed = env.service.list(PageRequest::first(100)).await.unwrap();
    assert_eq!(listed.items.len(), 1, "{:?}", listed.items);
    assert_ne!(listed.items[0].id, old_id);
}

/// The same for a rotation of a logged-in session (`Session::rotate`).
#[tokio::test]
async fn a_write_arriving_after_a_concurrent_rotation_leaves_its_cookie_alone() {
    let env = env();
    let (_, login) = logged_in_after_a_visit(&env).await;
    let rotated = rotated(&env, &login).await;

    let persisted = late_write(&env.service, &token(&login)).await;

    assert_dropped(&persisted);
    assert!(logged_in(&env, &rotated).await);
}

/// A login is a fresh authentication: a second one through the old token
/// (a form submitted twice) logs in too.
#[tokio::test]
async fn a_login_arriving_after_a_concurrent_login_logs_in() {
    let env = env();
    let (visit, _) = logged_in_after_a_visit(&env).await;

    let mut again = env
        .service
        .get::<Profile>(Some(&token(&visit)))
        .await
        .unwrap();
    again.login(Binding::user("roger"));
    let persisted = env.service.commit(&mut again).await.unwrap();

    assert_eq!(persisted.outcome, PersistOutcome::Rotated);
    assert!(logged_in(&env, &persisted).await);
    assert_eq!(env.service.list_for_user("roger").await.unwrap().len(), 2);
}

/// The old id is told apart for a while only: once it has passed, a
/// request with the old token is a visitor whose session is gone, and its
/// write starts a new session.
#[tokio::test]
async fn the_old_token_starts_a_new_session_once_the_move_is_old() {
    let env = env();
    let (visit, _) = logged_in_after_a_visit(&env).await;
    env.clock.advance(Duration::from_secs(61));

    let persisted = late_write(&env.service, &token(&visit)).await;

    assert_eq!(persisted.outcome, PersistOutcome::Created);
    assert!(matches!(persisted.cookie, CookieAction::Set { .. }));
}

/// With no grace configured, a move leaves nothing under the old id.
#[tokio::test]
async fn without_a_grace_a_move_leaves_nothing_behind() {
    let env = env();
    let service = service_like(&env, |b| b.moved_grace(Duration::ZERO));
    let mut s = service.get::<Profile>(None).await.unwrap();
    set_age(&mut s, Some(20));
    let visit = service.commit(&mut s).await.unwrap();
    let mut s = service.get::<Profile>(Some(&token(&visit))).await.unwrap();
    s.login(Binding::user("roger"));
    service.commit(&mut s).await.unwrap();

    assert_eq!(env.store.inner().len(), 1);
    let persisted = late_write(&service, &token(&visit)).await;
    assert_eq!(persisted.outcome, PersistOutcome::Created);
}

/// Once the delete of `held` has gone through, holds that call until told
/// to go on: the moment between a move's delete of the old record and its
/// next store call.
#[derive(Default, Clone)]
struct HeldAfterDelete {
    held: std::sync::Arc<std::sync::Mutex<Option<session_core::SessionId>>>,
    reached: std::sync::Arc<tokio::sync::Notify>,
    go: std::sync::Arc<tokio::sync::Notify>,
}

#[session_axum::async_trait]
impl After for HeldAfterDelete {
    async fn deleted(&self, id: &session_core::SessionId) {
        let hold = *self.held.lock().unwrap() == Some(*id);
        if hold {
            self.reached.notify_one();
            self.go.notified().await;
        }
    }
}

/// A request with the old token that loads after the login deleted the old
/// record but before the marker is written finds neither: its write starts
/// a new session whose cookie replaces the login's, the very thing the
/// marker is for. The marker must be in place before the old record goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_loading_between_the_logins_delete_and_its_marker_leaves_the_logins_cookie_alone() {
    use std::sync::Arc;

    let clock = session_core::MockClock::starting_now();
    let store = HeldAfterDelete::default();
    let memory = session_core::MemoryStore::with_clock(Arc::new(clock.clone()));
    let service = session_core::SessionService::builder()
        .store(Hooked::new(Arc::new(memory), store.clone()))
        .key(session_core::Key::new([3u8; 32]).unwrap())
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();

    let mut s = service.get::<Profile>(None).await.unwrap();
    set_age(&mut s, Some(20));
    let visit = service.commit(&mut s).await.unwrap();
    *store.held.lock().unwrap() = visit.id;

    let login = {
        let service = service.clone();
        let old = token(&visit);
        tokio::spawn(async move {
            let mut s = service.get::<Profile>(Some(&old)).await.unwrap();
            s.login(Binding::user("roger"));
            service.commit(&mut s).await.unwrap()
        })
    };
    store.reached.notified().await;

    // The late request: the browser sent it with the old cookie before the
    // login's answer came back.
    let persisted = late_write(&service, &token(&visit)).await;
    store.go.notify_one();
    let login = login.await.unwrap();
    assert_eq!(login.outcome, PersistOutcome::Rotated);

    assert_dropped(&persisted);
}

/// The grace counts from the move, not from the login request's start (the
/// time it loaded): a login whose handler took a while (an identity
/// provider called, a slow password hash) still leaves a marker for a whole
/// minute.
#[tokio::test]
async fn the_marker_lasts_its_grace_from_the_move_not_from_the_logins_start() {
    let env = env();
    let mut s = env.service.get::<Profile>(None).await.unwrap();
    set_age(&mut s, Some(20));
    let visit = env.service.commit(&mut s).await.unwrap();

    let mut s = env
        .service
        .get::<Profile>(Some(&token(&visit)))
        .await
        .unwrap();
    // The login handler works for 45 seconds before the session is persisted.
    env.clock.advance(Duration::from_secs(45));
    s.login(Binding::user("roger"));
    let login = env.service.commit(&mut s).await.unwrap();
    assert_eq!(login.outcome, PersistOutcome::Rotated);

    // 20 seconds after the move: within the default minute.
    env.clock.advance(Duration::from_secs(20));
    let persisted = late_write(&env.service, &token(&visit)).await;
    assert_dropped(&persisted);
}

/// Several cookies of the session's name (a stale one on a more specific
/// path comes first, as browsers send them): the first names a session that
/// is simply gone, the next the session the login moved. The load must not
/// fall back to the first and drop what the second's marker says, or the
/// write starts a new session whose cookie replaces the login's.
#[tokio::test]
async fn a_write_with_a_stale_cookie_before_the_moved_one_leaves_the_logins_cookie_alone() {
    let env = env();
    let (visit, login) = logged_in_after_a_visit(&env).await;
    let stale = env.service.token_for(&session_core::SessionId::generate());

    let old = token(&visit);
    let cell = env
        .service
        .load_first([stale.as_str(), old.as_str()])
        .await
        .unwrap();
    cell.lock().set_field("age", "30");
    let persisted = env.service.persist(&cell).await.unwrap();

    assert_dropped(&persisted);
    assert!(logged_in(&env, &login).await);
}

/// A logout sent with the old cookie of a logged-in session that a rotation
/// moved meanwhile ends the session it moved to: the user asked to log out.
#[tokio::test]
async fn a_late_logout_after_a_rotation_ends_the_moved_session() {
    let env = env();
    let (_, login) = logged_in_after_a_visit(&env).await;
    let rotated = rotated(&env, &login).await;

    let late = env.service.load(Some(&token(&login))).await.unwrap();
    late.lock().destroy();
    let persisted = env.service.persist(&late).await.unwrap();

    assert_eq!(persisted.outcome, PersistOutcome::Destroyed);
    assert_eq!(persisted.cookie, CookieAction::Clear);
    let s = env
        .service
        .get::<Profile>(Some(&token(&rotated)))
        .await
        .unwrap();
    assert!(
        !s.is_authenticated(),
        "the moved session outlived the logout"
    );
    assert!(env.service.list_for_user("roger").await.unwrap().is_empty());
}

/// The marker of an anonymous session names no new id: an old id someone
/// planted before the victim's login cannot log the victim out.
#[tokio::test]
async fn a_logout_through_a_pre_login_id_does_not_end_the_login() {
    let env = env();
    let (visit, login) = logged_in_after_a_visit(&env).await;
    let marker = env
        .store
        .inner()
        .load(&visit.id.unwrap().moved_marker_id())
        .await;
    assert_eq!(marker.unwrap().and_then(|m| m.moved_to()), None);

    let planted = env.service.load(Some(&token(&visit))).await.unwrap();
    planted.lock().destroy();
    env.service.persist(&planted).await.unwrap();
    let revoked = env.service.revoke("roger", &visit.id.unwrap()).await;
    assert!(!revoked.unwrap());

    assert!(logged_in(&env, &login).await);
}

/// Revoking a session by the id a listing showed just before a rotation of
/// it revokes the session it moved to.
#[tokio::test]
async fn revoking_a_session_moved_meanwhile_revokes_it_under_its_new_id() {
    let env = env();
    let (_, login) = logged_in_after_a_visit(&env).await;
    let listed = env.service.list_for_user("roger").await.unwrap()[0].id;
    rotated(&env, &login).await;

    assert!(
        !env.service.revoke("ada", &listed).await.unwrap(),
        "not ada's"
    );
    assert!(env.service.revoke("roger", &listed).await.unwrap());
    assert!(env.service.list_for_user("roger").await.unwrap().is_empty());
}

/// Someone who logged in as themselves and planted that session's cookie
/// in the victim's browser still holds the old token once the victim logs
/// in over it. A logout sent with that token must not follow the move into
/// the victim's session: the marker names the new id only when the same
/// user stays logged in. README: "an old id someone planted gains nothing".
#[tokio::test]
async fn a_logout_through_a_planted_logged_in_id_does_not_end_another_users_login() {
    let env = env();
    // The attacker's own login; its cookie goes into the victim's browser.
    let mut s = env.service.get::<Profile>(None).await.unwrap();
    set_age(&mut s, Some(20));
    let visit = env.service.commit(&mut s).await.unwrap();
    let mut s = env
        .service
        .get::<Profile>(Some(&token(&visit)))
        .await
        .unwrap();
    s.login(Binding::user("mallory"));
    let planted = env.service.commit(&mut s).await.unwrap();

    // The victim logs in through the planted cookie.
    let mut s = env
        .service
        .get::<Profile>(Some(&token(&planted)))
        .await
        .unwrap();
    s.login(Binding::user("roger"));
    let victim = env.service.commit(&mut s).await.unwrap();
    assert_eq!(victim.outcome, PersistOutcome::Rotated);

    // The attacker logs out with the token it kept, within the grace.
    let late = env.service.load(Some(&token(&planted))).await.unwrap();
    late.lock().destroy();
    env.service.persist(&late).await.unwrap();

    let s = env
        .service
        .get::<Profile>(Some(&token(&victim)))
        .await
        .unwrap();
    assert!(
        s.is_authenticated(),
        "the planter's logout ended the victim's session"
    );
    assert_eq!(env.service.list_for_user("roger").await.unwrap().len(), 1);
}

/// With `moved_grace(Duration::ZERO)` no move leaves a marker, so there is
/// none to follow: a logout as `Auth::logout` does it (the record deleted
/// in the handler, then again at persist, which finds nothing) and a
/// revocation of an id that is gone must not read one (a wasted store
/// round trip per logout).
#[tokio::test]
async fn without_markers_a_logout_and_a_revocation_read_no_marker() {
    use session_core::conformance::StoreOp;
    let env = env();
    let service = service_like(&env, |b| b.moved_grace(Duration::ZERO));
    let id = service
        .create_session(Binding::user("roger"))
        .await
        .unwrap();
    let t = service.token_for(&id);

    env.store.clear();
    let cell = service.load(Some(&t)).await.unwrap();
    let loaded = cell.lock().stored_id().expect("a live session");
    assert!(service.destroy_session(&loaded).await.unwrap());
    cell.lock().destroy();
    let p = service.persist(&cell).await.unwrap();
    assert_eq!(p.outcome, PersistOutcome::Destroyed);
    assert!(!service.revoke("roger", &id).await.unwrap());

    let marker = id.moved_marker_id();
    let reads: Vec<_> = env
        .store
        .ops()
        .into_iter()
        .filter(|op| matches!(op, StoreOp::Load(m) if *m == marker))
        .collect();
    assert!(
        reads.is_empty(),
        "{} read(s) of a marker no move can have left",
        reads.len()
    );
}
