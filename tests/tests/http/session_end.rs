//! `Auth::session_end` polled before the request's session is stored: in
//! the handler itself (a long poll selecting on it), or in a task the
//! handler spawns, which may run before the handler returns.

use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use session_axum::{Auth, Binding, Session, SessionEnd};
use session_tests::profile::Counters;

use crate::app::{TestApp, start_with};

const EVERY: Duration = Duration::from_millis(20);

/// Waits in the handler for the session's end, or answers "alive" after
/// several checks.
async fn wait_in_handler(auth: Auth) -> &'static str {
    let ended = auth.session_end(EVERY).expect("a server-side store");
    tokio::select! {
        () = ended => "ended",
        () = tokio::time::sleep(EVERY * 10) => "alive",
    }
}

/// Waits in the handler for the session's end, up to 10 s.
async fn wait_long(auth: Auth) -> &'static str {
    let ended = auth.session_end(EVERY).expect("a server-side store");
    tokio::select! {
        () = ended => "ended",
        () = tokio::time::sleep(Duration::from_secs(10)) => "alive",
    }
}

/// Waits with an interval no check will come at.
async fn wait_forever_between_checks(auth: Auth) -> &'static str {
    let ended = auth
        .session_end(Duration::MAX)
        .expect("a server-side store");
    tokio::select! {
        () = ended => "ended",
        () = tokio::time::sleep(EVERY) => "alive",
    }
}

/// What a feed keeps: the watch, named, in a field of its own.
#[derive(Debug)]
struct Feed {
    ended: SessionEnd,
}

/// Waits in the handler on a watch kept in a struct.
async fn wait_in_struct(auth: Auth) -> &'static str {
    let feed = Feed {
        ended: auth.session_end(EVERY).expect("a server-side store"),
    };
    assert!(format!("{feed:?}").contains("SessionEnd"), "{feed:?}");
    tokio::select! {
        () = feed.ended => "ended",
        () = tokio::time::sleep(EVERY * 10) => "alive",
    }
}

/// Logs out, then waits on a watch kept in a struct.
async fn logout_then_wait_in_struct(auth: Auth) -> &'static str {
    auth.logout().await.expect("the store answers");
    wait_in_struct(auth).await
}

/// The watch a handler handed to a task, polled once before the handler
/// returned (one test uses it).
static SPAWNED: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>> = std::sync::Mutex::new(None);

/// Makes a session for a new visitor, polls the watch once (as a task
/// spawned here may, before persist), then hands it to a task.
async fn visit_then_spawn(mut session: Session<Counters>, auth: Auth) -> &'static str {
    session.update(|c| c.visits += 1);
    session.commit().expect("a count encodes");
    let mut ended = Box::pin(auth.session_end(EVERY).expect("a server-side store"));
    tokio::select! {
        biased;
        () = &mut ended => return "ended at once",
        () = std::future::ready(()) => {}
    }
    *SPAWNED.lock().unwrap() = Some(tokio::spawn(ended));
    "spawned"
}

/// The watch of a request whose handler fails before the response (a
/// panic, or the request dropped), handed to a task first (one test uses it).
static SPAWNED_BEFORE_FAILURE: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>> =
    std::sync::Mutex::new(None);

/// Makes a session for a new visitor, hands the watch to a task after
/// polling it once, then panics: the session is never stored.
async fn visit_spawn_then_panic(mut session: Session<Counters>, auth: Auth) -> &'static str {
    session.update(|c| c.visits += 1);
    session.commit().expect("a count encodes");
    let mut ended = Box::pin(auth.session_end(EVERY).expect("a server-side store"));
    tokio::select! {
        biased;
        () = &mut ended => return "ended at once",
        () = std::future::ready(()) => {}
    }
    *SPAWNED_BEFORE_FAILURE.lock().unwrap() = Some(tokio::spawn(ended));
    panic!("the handler fails after handing out the watch");
}

/// Logs in, then waits in the handler.
async fn login_then_wait(auth: Auth) -> &'static str {
    auth.login(Binding::user("alice"));
    wait_in_handler(auth).await
}

/// Makes a session for a new visitor, then waits in the handler.
async fn visit_then_wait(mut session: Session<Counters>, auth: Auth) -> &'static str {
    session.update(|c| c.visits += 1);
    session.commit().expect("a count encodes");
    wait_in_handler(auth).await
}

/// Logs out, then waits in the handler.
async fn logout_then_wait(auth: Auth) -> &'static str {
    auth.logout().await.expect("the store answers");
    wait_in_handler(auth).await
}

/// Logs out and in again as another user, then waits in the handler.
async fn logout_login_then_wait(auth: Auth) -> &'static str {
    auth.logout().await.expect("the store answers");
    auth.login(Binding::user("bob"));
    wait_in_handler(auth).await
}

async fn start() -> TestApp {
    start_with(session_axum::SigningKeys::single(crate::app::key(1)), |b| {
        b.merge(
            Router::new()
                .route("/end/wait", get(wait_in_handler))
                .route("/end/wait-long", get(wait_long))
                .route("/end/wait-struct", get(wait_in_struct))
                .route("/end/logout-wait-struct", post(logout_then_wait_in_struct))
                .route("/end/wait-max", get(wait_forever_between_checks))
                .route("/end/visit-spawn", get(visit_then_spawn))
                .route("/end/visit-spawn-panic", get(visit_spawn_then_panic))
                .route("/end/login-wait", post(login_then_wait))
                .route("/end/visit-wait", get(visit_then_wait))
                .route("/end/logout-wait", post(logout_then_wait))
                .route("/end/relogin-wait", post(logout_login_then_wait)),
        )
    })
    .await
}

#[tokio::test]
async fn a_stored_session_watched_in_the_handler_lives() {
    let t = start().await;
    let mut b = t.server.browser();
    assert_eq!(b.post("/t/login?user=alice").await.status, 204);
    assert_eq!(b.get("/end/wait").await.body, "alive");
}

/// The watch is a type of its own, kept in a struct like any other
/// field: `Send` and `'static`, so a spawned task may hold it, and `Sync`,
/// so a struct shared by reference may.
#[tokio::test]
async fn a_watch_can_be_kept_in_a_struct_field() {
    fn spawnable<F: std::future::Future<Output = ()> + Send + Sync + 'static>() {}
    spawnable::<SessionEnd>();
    let t = start().await;
    let mut b = t.server.browser();
    assert_eq!(b.post("/t/login?user=alice").await.status, 204);
    assert_eq!(b.get("/end/wait-struct").await.body, "alive");
    assert_eq!(b.post("/end/logout-wait-struct").await.body, "ended");
}

/// The login's session is stored after the handler: until then it is not
/// gone, only not stored yet.
#[tokio::test]
async fn a_login_watched_in_its_own_handler_is_not_taken_as_ended() {
    let t = start().await;
    let mut b = t.server.browser();
    let r = b.post("/end/login-wait").await;
    assert_eq!(r.body, "alive", "{r:?}");
}

/// Likewise a session this request creates for a new visitor.
#[tokio::test]
async fn a_new_session_watched_in_its_own_handler_is_not_taken_as_ended() {
    let t = start().await;
    let mut b = t.server.browser();
    let r = b.get("/end/visit-wait").await;
    assert_eq!(r.body, "alive", "{r:?}");
}

/// A logout in the request ends the watched session at once.
#[tokio::test]
async fn a_logout_in_the_request_ends_the_watch_at_once() {
    let t = start().await;
    let mut b = t.server.browser();
    assert_eq!(b.post("/t/login?user=alice").await.status, 204);
    assert_eq!(b.post("/end/logout-wait").await.body, "ended");
}

/// A login after the logout: the request ends on the new session.
#[tokio::test]
async fn a_login_after_a_logout_in_the_request_is_watched() {
    let t = start().await;
    let mut b = t.server.browser();
    assert_eq!(b.post("/t/login?user=alice").await.status, 204);
    assert_eq!(b.post("/end/relogin-wait").await.body, "alive");
}

/// A bearer client's session is watched as a cookie's is: revoked while
/// the request waits, the watch ends.
#[tokio::test]
async fn a_bearer_session_revoked_during_the_request_ends_the_watch() {
    let t = start().await;
    let mut api = t.server.browser();
    let r = api.post("/t/token?user=bot").await;
    assert_eq!(r.status, 200);
    api.bearer = Some(r.json()["token"].as_str().unwrap().to_owned());
    assert_eq!(api.get("/end/wait").await.body, "alive");
    let waiting = tokio::spawn(async move { api.get("/end/wait-long").await });
    tokio::time::sleep(EVERY * 5).await;
    assert_eq!(t.service.revoke_all("bot", None).await.unwrap(), 1);
    let r = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("the watch ends before the handler's own bound")
        .expect("the request's task");
    assert_eq!(r.body, "ended");
}

/// An interval as long as a `Duration` holds is taken, not a panic.
#[tokio::test]
async fn the_longest_interval_is_taken() {
    let t = start().await;
    let mut b = t.server.browser();
    assert_eq!(b.post("/t/login?user=alice").await.status, 204);
    let r = b.get("/end/wait-max").await;
    assert_eq!((r.status, &*r.body), (200, "alive"), "{r:?}");
}

/// A watch first polled before the request stored its new session watches
/// that session once it is stored: open while it lives, done once it is
/// logged out.
#[tokio::test]
async fn a_watch_polled_before_its_new_session_is_stored_follows_it() {
    let t = start().await;
    let mut b = t.server.browser();
    let r = b.get("/end/visit-spawn").await;
    assert_eq!(r.body, "spawned", "{r:?}");
    let watch = SPAWNED.lock().unwrap().take().expect("a task");
    tokio::time::sleep(EVERY * 5).await;
    assert!(!watch.is_finished(), "the new session lives");
    assert_eq!(b.post("/t/logout").await.status, 204);
    tokio::time::timeout(Duration::from_secs(5), watch)
        .await
        .expect("the watch ends with the session")
        .expect("the watch's task");
}

/// A request that never gets to persist (its handler panicked, or the
/// client went away) still settles: a watch waiting for its new session
/// ends, as no session was stored, rather than waiting for ever.
#[tokio::test]
async fn a_watch_waiting_for_a_session_its_failed_request_never_stored_ends() {
    let t = start().await;
    let mut b = t.server.browser();
    // Whatever the failed request answers (or not): only the watch counts.
    let _ = tokio::spawn(async move { b.get("/end/visit-spawn-panic").await }).await;
    let watch = SPAWNED_BEFORE_FAILURE
        .lock()
        .unwrap()
        .take()
        .expect("the handler ran");
    tokio::time::timeout(Duration::from_secs(5), watch)
        .await
        .expect("the watch of a request that never settled ends")
        .expect("the watch's task");
}
