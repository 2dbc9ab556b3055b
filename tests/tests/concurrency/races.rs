//! The README's concurrency claims over real HTTP: many requests of one
//! browser in flight at once, cookies applied in response-arrival order.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use session_core::SessionId;
use tokio::sync::Barrier;

use crate::support::{Kind, rounds};
use crate::web::{Arrival, Browser, Web, start};

/// A browser holding an anonymous session with `f0`, past its first reuse
/// (no expiry refresh due for half an hour): its session id.
async fn warm(web: &Web, browser: &Browser) -> SessionId {
    let old = cold(web, browser).await;
    let reuse = browser.get("/set?f=warm").await;
    assert!(reuse.set.is_some(), "the first reuse refreshes: {reuse:?}");
    old
}

/// A browser holding an anonymous session with `f0` whose first reuse (an
/// expiry refresh, answered with `Set-Cookie`) is still to come: its id.
async fn cold(web: &Web, browser: &Browser) -> SessionId {
    assert_eq!(browser.get("/set?f=f0").await.status, 204);
    // The first reuse must come a millisecond later to count as one.
    tokio::time::sleep(Duration::from_millis(2)).await;
    id_of(web, browser)
}

fn id_of(web: &Web, browser: &Browser) -> SessionId {
    let sid = browser.sid().expect("a session cookie");
    web.service
        .session_id_from_token(&sid)
        .expect("a valid token")
}

async fn fields(browser: &Browser) -> serde_json::Value {
    serde_json::from_str(&browser.get("/fields").await.body).unwrap()
}

// ---------------------------------------------------------------------------
// Different fields merge.

async fn different_fields(kind: Kind, max: usize) {
    let web = start(kind).await;
    rounds(max, |_| async {
        let browsers: Vec<Browser> = (0..4).map(|_| Browser::new(&web)).collect();
        for b in &browsers {
            warm(&web, b).await;
        }
        let mut tasks = Vec::new();
        for b in &browsers {
            for f in 1..=8 {
                let b = b.clone();
                tasks.push(tokio::spawn(
                    async move { b.get(&format!("/set?f=f{f}")).await },
                ));
            }
        }
        for t in tasks {
            assert_eq!(t.await.unwrap().status, 204);
        }
        for (n, b) in browsers.iter().enumerate() {
            let fields = fields(b).await;
            let missing: Vec<_> = (0..=8)
                .map(|f| format!("f{f}"))
                .filter(|f| fields.get(f).is_none())
                .collect();
            if !missing.is_empty() {
                return Some(format!("browser {n} lost {missing:?}"));
            }
        }
        None
    })
    .await
    .assert_none(&format!("{kind:?}: concurrent writes of different fields"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_memory_concurrent_writes_to_different_fields_all_survive() {
    different_fields(Kind::Memory, 100).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_file_concurrent_writes_to_different_fields_all_survive() {
    different_fields(Kind::File, 30).await;
}

// ---------------------------------------------------------------------------
// A flash is read by the concurrent requests that loaded it, and by none
// after them (nothing makes a take exclusive: see the README).

/// Whether a `/flash-take` answer (JSON: the flash or `null`) took it.
fn took_flash(body: &str) -> bool {
    serde_json::from_str::<Option<String>>(body).is_ok_and(|taken| taken.is_some())
}

async fn flash_once(kind: Kind, max: usize) {
    let web = start(kind).await;
    rounds(max, |_| async {
        let b = Browser::new(&web);
        assert_eq!(b.get("/flash-set").await.status, 204);
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let b = b.clone();
                tokio::spawn(async move { b.get("/flash-take").await })
            })
            .collect();
        let mut readers = 0;
        for t in tasks {
            let arrival = t.await.unwrap();
            readers += usize::from(took_flash(&arrival.body));
        }
        let again = took_flash(&b.get("/flash-take").await.body);
        (readers == 0 || again)
            .then(|| format!("read by {readers} of 8 concurrent requests, then again: {again}"))
    })
    .await
    .assert_none(&format!(
        "{kind:?}: a flash set once was not read, or read again after"
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_memory_a_flash_is_read_by_concurrent_requests_and_none_after() {
    flash_once(Kind::Memory, 100).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_file_a_flash_is_read_by_concurrent_requests_and_none_after() {
    flash_once(Kind::File, 30).await;
}

// ---------------------------------------------------------------------------
// Compare-and-set.

async fn compare_and_set(kind: Kind, max: usize) {
    let web = start(kind).await;
    rounds(max, |_| async {
        let b = Browser::new(&web);
        warm(&web, &b).await;
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let b = b.clone();
                tokio::spawn(async move { b.get("/cas").await.status })
            })
            .collect();
        let mut ok = 0u64;
        for t in tasks {
            match t.await.unwrap() {
                204 => ok += 1,
                409 => {}
                other => panic!("status {other}"),
            }
        }
        let n: u64 = fields(&b).await["n"].as_str().unwrap().parse().unwrap();
        (n != ok || ok == 0).then(|| format!("{ok} increments answered 204, n = {n}"))
    })
    .await
    .assert_none(&format!("{kind:?}: compare-and-set increments"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_memory_compare_and_set_increments_are_never_lost() {
    compare_and_set(Kind::Memory, 100).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_file_compare_and_set_increments_are_never_lost() {
    compare_and_set(Kind::File, 30).await;
}

// ---------------------------------------------------------------------------
// A login racing the browser's other requests.

/// What a login racing writes left behind.
struct LoginRace {
    /// The login's `Set-Cookie` value.
    login_sid: String,
    old: SessionId,
    new: SessionId,
}

/// `b` logs in as `user` while `writers` tasks send a few writes of fresh
/// fields each, until the login's answer is back (each carries the cookie the jar
/// holds when it leaves). With `head_start`, the login waits until the
/// writers had some answers.
async fn login_racing(
    web: &Web,
    b: &Browser,
    user: &str,
    writers: usize,
    old: SessionId,
    head_start: bool,
) -> LoginRace {
    let answered = Arc::new(AtomicBool::new(false));
    let barrier = Arc::new(Barrier::new(writers + 1));
    let sent = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let (b, answered, barrier, sent) =
                (b.clone(), answered.clone(), barrier.clone(), sent.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let mut n = 0;
                // A few writes each, as a browser's requests (see the
                // service-level race for why not an endless stream).
                while n < 3 && !answered.load(Ordering::SeqCst) {
                    b.get(&format!("/set?f=w{w}_{n}")).await;
                    sent.fetch_add(1, Ordering::SeqCst);
                    n += 1;
                }
            })
        })
        .collect();
    barrier.wait().await;
    while head_start && sent.load(Ordering::SeqCst) < writers {
        tokio::task::yield_now().await;
    }
    let login = b.post(&format!("/login?user={user}")).await;
    answered.store(true, Ordering::SeqCst);
    assert_eq!(login.status, 204);
    let login_sid = login.set.clone().expect("the login sets the cookie");
    for t in tasks {
        t.await.unwrap();
    }
    let new = web.service.session_id_from_token(&login_sid).unwrap();
    LoginRace {
        login_sid,
        old,
        new,
    }
}

/// The answers that arrived after the login's and set the cookie, each
/// described with what it set.
fn after_login(web: &Web, b: &Browser, race: &LoginRace) -> Vec<(Arrival, String)> {
    let arrivals = b.arrivals.lock().unwrap().clone();
    let at = arrivals
        .iter()
        .position(|a| a.set.as_deref() == Some(race.login_sid.as_str()))
        .expect("the login's answer");
    arrivals[at + 1..]
        .iter()
        .filter(|a| a.set.is_some() && a.path != "/me")
        .map(|a| {
            let id = a
                .set
                .as_deref()
                .and_then(|t| web.service.session_id_from_token(t));
            let what = match id {
                Some(id) if id == race.old => "the old id".to_owned(),
                Some(id) => format!("a new session {}", id.short()),
                None => "a clearing".to_owned(),
            };
            (a.clone(), what)
        })
        .collect()
}

fn describe(answers: &[(Arrival, String)]) -> Vec<String> {
    answers
        .iter()
        .map(|(a, what)| format!("{} answered {} setting {what}", a.path, a.status))
        .collect()
}

/// README: a request sent with the old cookie before the login's answer
/// came back "has its changes dropped (logged) instead of starting a new
/// session whose cookie would replace the login's and log the browser out".
/// The session is past its first reuse, so no racing answer refreshes the
/// old id. After the login and every request racing it are answered, the
/// browser (cookies applied in arrival order) must be logged in on the
/// login's session, the user's only one: persist writes the marker before
/// it deletes the old record, so no racing write finds neither and starts a
/// new anonymous session whose cookie would arrive after the login's.
async fn login_keeps_the_browser_logged_in(kind: Kind, max: usize) {
    let web = start(kind).await;
    rounds(max, |i| {
        let web = &web;
        async move {
            let b = Browser::new(web);
            let user = format!("u{i}");
            let old = warm(web, &b).await;
            let race = login_racing(web, &b, &user, 6, old, true).await;
            let me = b.get("/me").await;
            let listed: Vec<SessionId> = web
                .service
                .list_for_user(&user)
                .await
                .unwrap()
                .into_iter()
                .map(|s| s.id)
                .collect();
            if me.status == 200 && me.body == user && listed == [race.new] {
                return None;
            }
            let marker = web
                .service
                .store()
                .load(&race.old.moved_marker_id())
                .await
                .unwrap()
                .is_some_and(|m| m.is_moved_marker());
            Some(format!(
                "/me answered {}; {user} lists {} session(s) (the login's: {}); the move's marker is there: {marker}; after the login's answer: {:?}",
                me.status,
                listed.len(),
                listed == [race.new],
                describe(&after_login(web, &b, &race))
            ))
        }
    })
    .await
    .assert_none(&format!(
        "{kind:?}: a write racing the login started a session whose cookie logged the browser out"
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_file_a_write_racing_a_login_does_not_log_the_browser_out() {
    login_keeps_the_browser_logged_in(Kind::File, 100).await;
}

/// README: a login's data "carry over as the old record holds them just
/// before the move, so a change another request saved meanwhile moves
/// too". Every field a save confirmed on the old id (seen by the store
/// wrapper; a save after the deletion finds nothing and is not confirmed)
/// must be in the session after the login.
async fn login_carries_saved_writes(kind: Kind, max: usize) {
    let web = start(kind).await;
    rounds(max, |i| {
        let web = &web;
        async move {
            let b = Browser::new(web);
            let old = warm(web, &b).await;
            let race = login_racing(web, &b, &format!("u{i}"), 6, old, true).await;
            let cell = web.service.load(Some(&race.login_sid)).await.unwrap();
            let now = cell.lock().fields();
            let lost: Vec<String> = web
                .journal
                .saved(&race.old)
                .into_iter()
                .filter(|f| now.get(f).is_none())
                .collect();
            (!lost.is_empty()).then(|| format!("saved on the old id, not moved: {lost:?}"))
        }
    })
    .await
    .assert_none(&format!(
        "{kind:?}: a login dropped writes the store had confirmed"
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_file_a_write_saved_while_a_login_moves_the_session_is_carried_over() {
    login_carries_saved_writes(Kind::File, 100).await;
}

// ---------------------------------------------------------------------------
// A logout racing writes.

/// After a logout is answered, no request started later is authenticated
/// with that session, and once the writes racing it are answered too, no
/// record of it and no index entry is left.
async fn logout_racing_writes(kind: Kind, max: usize) {
    let web = start(kind).await;
    rounds(max, |i| {
        let web = &web;
        async move {
            let b = Browser::new(web);
            let user = format!("u{i}");
            warm(web, &b).await;
            assert_eq!(b.post(&format!("/login?user={user}")).await.status, 204);
            let token = b.sid().unwrap();
            let id = id_of(web, &b);
            let answered = Arc::new(AtomicBool::new(false));
            let tasks: Vec<_> = (0..6)
                .map(|w| {
                    let (b, answered) = (b.clone(), answered.clone());
                    tokio::spawn(async move {
                        let mut n = 0;
                        while !answered.load(Ordering::SeqCst) {
                            let path = if n % 2 == 0 {
                                format!("/set?f=w{w}_{n}")
                            } else {
                                "/me".into()
                            };
                            b.get(&path).await;
                            n += 1;
                        }
                    })
                })
                .collect();
            tokio::time::sleep(Duration::from_millis(2)).await;
            let logout = b.post("/logout").await;
            answered.store(true, Ordering::SeqCst);
            assert_eq!(logout.status, 204);
            // A request started now, with the old cookie.
            let late = Browser::new(web);
            late.jar.lock().unwrap().insert("sid".into(), token.clone());
            let me = late.get("/me").await;
            for t in tasks {
                t.await.unwrap();
            }
            let record = web.service.record(&id).await.unwrap();
            let listed = web.service.list_for_user(&user).await.unwrap();
            let me_after = b.get("/me").await;
            let mut what = Vec::new();
            if me.status != 401 {
                what.push(format!("old cookie after logout: /me {}", me.status));
            }
            if record.is_some() {
                what.push("record still there".to_owned());
            }
            if !listed.is_empty() {
                what.push(format!("{} listed", listed.len()));
            }
            if me_after.status != 401 {
                what.push(format!("browser after logout: /me {}", me_after.status));
            }
            (!what.is_empty()).then(|| what.join("; "))
        }
    })
    .await
    .assert_none(&format!("{kind:?}: a logout racing writes"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_memory_a_logout_racing_writes_leaves_nothing_behind() {
    logout_racing_writes(Kind::Memory, 200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_file_a_logout_racing_writes_leaves_nothing_behind() {
    logout_racing_writes(Kind::File, 60).await;
}

// ---------------------------------------------------------------------------
// Revoking every session of a user while its sessions rotate.

/// An admin revokes every session of a user while each of the user's
/// browsers moves its session to a new id (`Session::rotate`, which keeps
/// the login) and writes. No login runs during the revocation, so once it
/// is answered and the racing requests are too, no browser may be logged in
/// and the user may list no session. (The memory store fails this too, too
/// rarely over HTTP for a test: see the service-level case.)
async fn revoke_all_racing_rotations(kind: Kind, max: usize) {
    let web = start(kind).await;
    rounds(max, |i| {
        let web = &web;
        async move {
            let user = format!("u{i}");
            let browsers: Vec<Browser> = (0..8).map(|_| Browser::new(web)).collect();
            for b in &browsers {
                assert_eq!(b.get("/set?f=f0").await.status, 204);
                assert_eq!(b.post(&format!("/login?user={user}")).await.status, 204);
            }
            let barrier = Arc::new(Barrier::new(browsers.len() + 1));
            let tasks: Vec<_> = browsers
                .iter()
                .map(|b| {
                    let (b, barrier) = (b.clone(), barrier.clone());
                    tokio::spawn(async move {
                        barrier.wait().await;
                        tokio::join!(b.post("/rotate"), b.get("/set?f=x"))
                    })
                })
                .collect();
            let admin = Browser::new(web);
            barrier.wait().await;
            let revoked = admin.post(&format!("/revoke-all?user={user}")).await;
            assert_eq!(revoked.status, 200);
            for t in tasks {
                t.await.unwrap();
            }
            let mut logged_in = 0;
            for b in &browsers {
                logged_in += usize::from(b.get("/me").await.status == 200);
            }
            let listed = web.service.list_for_user(&user).await.unwrap().len();
            (logged_in != 0 || listed != 0).then(|| {
                format!("after revoke-all: {logged_in} browser(s) still logged in, {listed} listed")
            })
        }
    })
    .await
    .assert_none(&format!("{kind:?}: revoke-all left sessions"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_file_revoke_all_racing_rotations_logs_every_browser_out() {
    revoke_all_racing_rotations(Kind::File, 60).await;
}
