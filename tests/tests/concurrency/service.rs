//! The service's concurrency claims, driven by many tasks on a
//! multi-threaded runtime against the memory store and the file store.

use std::collections::BTreeSet;
use std::sync::Arc;

use session_core::{Binding, PersistOutcome, SessionError, SessionService};
use tokio::sync::Barrier;

use crate::support::{Kind, backing, rounds, service, token};

/// A new anonymous session holding `f0`, already past its first reuse (so no
/// expiry refresh is due in what follows): its token.
async fn warm_session(service: &SessionService) -> String {
    let cell = service.load(None).await.unwrap();
    cell.lock().set_field("f0", "0");
    let t = token(&service.persist(&cell).await.unwrap());
    // The first reuse must come a millisecond later to count as one.
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    let cell = service.load(Some(&t)).await.unwrap();
    cell.lock().set_field("warm", "1");
    let p = service.persist(&cell).await.unwrap();
    assert!(
        matches!(p.outcome, PersistOutcome::Saved { refreshed: true }),
        "{p:?}"
    );
    t
}

/// One request writing `field` through `token`: the outcome.
async fn write(service: &SessionService, token: &str, field: &str) -> PersistOutcome {
    let cell = service.load(Some(token)).await.unwrap();
    cell.lock().set_field(field, "1");
    service.persist(&cell).await.unwrap().outcome
}

/// A login through `token`: the new session's token.
async fn login(service: &SessionService, token: &str, user: &str) -> String {
    let cell = service.load(Some(token)).await.unwrap();
    cell.lock().login(Binding::user(user));
    let p = service.persist(&cell).await.unwrap();
    assert_eq!(p.outcome, PersistOutcome::Rotated);
    self::token(&p)
}

/// How many writes each writer of [`Late::Write`] sends. The login closes
/// the old record with a compare-and-set that a save landing first makes it
/// retry, a bounded number of times: a session written without pause for
/// as long as the login takes could outlast them.
const WRITES_RACING_A_LOGIN: usize = 3;

/// How the requests racing a login use the old token.
#[derive(Clone, Copy)]
enum Late {
    /// Each request writes a fresh field, a few times over (a browser's
    /// requests, not a loop that writes for as long as the login takes).
    Write,
    /// Requests only read while the session is there; the first that finds
    /// it gone writes (a request the browser sent before the login's
    /// answer came back).
    ReadThenWrite,
}

/// What the requests racing a login saw: the fields whose save the store
/// confirmed on the old id, and how many writes with the old token started
/// a new session.
#[derive(Default)]
struct Race {
    saved: Vec<String>,
    created: usize,
}

/// `writers` tasks using the old token as `late` says, while one task logs
/// in through it: the login's token, and what the writers saw.
async fn writes_racing_a_login(
    service: &SessionService,
    old: &str,
    writers: usize,
    late: Late,
) -> (String, Race) {
    let barrier = Arc::new(Barrier::new(writers + 1));
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (service, old, barrier) = (service.clone(), old.to_owned(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            let mut race = Race::default();
            barrier.wait().await;
            for n in 0.. {
                if let Late::Write = late
                    && n == WRITES_RACING_A_LOGIN
                {
                    break;
                }
                let field = format!("w{w}_{n}");
                let cell = service.load(Some(&old)).await.unwrap();
                if let Late::ReadThenWrite = late
                    && cell.lock().is_loaded()
                {
                    tokio::task::yield_now().await;
                    continue;
                }
                cell.lock().set_field(&field, "1");
                match service.persist(&cell).await.unwrap().outcome {
                    PersistOutcome::Saved { .. } => race.saved.push(field),
                    PersistOutcome::Created => {
                        race.created += 1;
                        break;
                    }
                    PersistOutcome::Vanished => break,
                    other => panic!("unexpected {other:?}"),
                }
                tokio::task::yield_now().await;
            }
            race
        }));
    }
    let login = {
        let (service, old) = (service.clone(), old.to_owned());
        tokio::spawn(async move {
            barrier.wait().await;
            login(&service, &old, "u").await
        })
    };
    let new = login.await.unwrap();
    let mut all = Race::default();
    for task in tasks {
        let race = task.await.unwrap();
        all.saved.extend(race.saved);
        all.created += race.created;
    }
    (new, all)
}

/// README: a login carries data over "as the old record holds them just
/// before the move, so a change another request saved meanwhile moves too".
/// Every write the store confirmed on the old id (outcome `Saved`, so it
/// landed before the old record's deletion) must be in the session the
/// login moved to. Persist reads the old record for this, creates the new
/// record, and closes the old one with a compare-and-set on the revision it
/// read before deleting it: a save landing in between makes the close
/// carry it over and try again.
async fn saved_writes_survive_a_racing_login(kind: Kind, max: usize) {
    let backing = backing(kind);
    let service = service(&backing);
    rounds(max, |_| async {
        let old = warm_session(&service).await;
        let (new, race) = writes_racing_a_login(&service, &old, 4, Late::Write).await;
        let cell = service.load(Some(&new)).await.unwrap();
        let fields = cell.lock().fields();
        let lost: Vec<&String> = race
            .saved
            .iter()
            .filter(|f| fields.get(f.as_str()).is_none())
            .collect();
        (!lost.is_empty()).then(|| format!("saved on the old id but not moved: {lost:?}"))
    })
    .await
    .assert_none(&format!(
        "{kind:?}: a login lost writes the store had confirmed on the old id"
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_a_write_saved_while_a_login_moves_the_session_is_carried_over() {
    saved_writes_survive_a_racing_login(Kind::Memory, 2000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_a_write_saved_while_a_login_moves_the_session_is_carried_over() {
    saved_writes_survive_a_racing_login(Kind::File, 200).await;
}

/// README: a move leaves a marker, so that "a request the browser sent with
/// the old cookie before the login's answer came back, and that writes the
/// session, has its changes dropped (logged) instead of starting a new
/// session whose cookie would replace the login's and log the browser out".
/// No write through the old token may create a session: persist writes the
/// marker before it deletes the old record, so a request always finds one
/// of them.
async fn old_token_writes_racing_a_login_never_start_a_session(kind: Kind, max: usize) {
    let backing = backing(kind);
    let service = service(&backing);
    rounds(max, |_| async {
        let old = warm_session(&service).await;
        let (_, race) = writes_racing_a_login(&service, &old, 4, Late::ReadThenWrite).await;
        if race.created == 0 {
            return None;
        }
        // The login did leave its marker, after those writes found none.
        let old_id = service.session_id_from_token(&old).unwrap();
        let marker = service.store().load(&old_id.moved_marker_id()).await.unwrap();
        let marked = marker.is_some_and(|m| m.is_moved_marker());
        Some(format!(
            "{} write(s) with the old token started a session (the marker is there now: {marked})",
            race.created
        ))
    })
    .await
    .assert_none(&format!(
        "{kind:?}: a write with the old token started a new session (its cookie would replace the login's)"
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_a_write_with_the_old_token_racing_a_login_starts_no_session() {
    old_token_writes_racing_a_login_never_start_a_session(Kind::File, 200).await;
}

/// Concurrent writes of different fields of one session all survive.
async fn different_fields_merge(kind: Kind, max: usize, writers: usize) {
    let backing = backing(kind);
    let service = service(&backing);
    rounds(max, |_| async {
        let t = warm_session(&service).await;
        let barrier = Arc::new(Barrier::new(writers));
        let tasks: Vec<_> = (0..writers)
            .map(|w| {
                let (service, t, barrier) = (service.clone(), t.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    write(&service, &t, &format!("f{}", w + 1)).await
                })
            })
            .collect();
        for task in tasks {
            let outcome = task.await.unwrap();
            assert!(
                matches!(outcome, PersistOutcome::Saved { .. }),
                "{outcome:?}"
            );
        }
        let cell = service.load(Some(&t)).await.unwrap();
        let fields = cell.lock().fields();
        let lost: Vec<String> = (0..=writers)
            .map(|w| format!("f{w}"))
            .filter(|f| fields.get(f).is_none())
            .collect();
        (!lost.is_empty()).then(|| format!("lost {lost:?}"))
    })
    .await
    .assert_none(&format!("{kind:?}: concurrent writes of different fields"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_concurrent_writes_to_different_fields_all_survive() {
    different_fields_merge(Kind::Memory, 300, 16).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_concurrent_writes_to_different_fields_all_survive() {
    different_fields_merge(Kind::File, 30, 16).await;
}

/// A flash set once is read by the concurrent requests that loaded it
/// (at least one: nothing makes a take exclusive, every request that loaded
/// before the first removal reads it too, as the README says), and by no
/// request after them.
async fn flash_taken_once(kind: Kind, max: usize, readers: usize) {
    let backing = backing(kind);
    let service = service(&backing);
    rounds(max, |_| async {
        let cell = service.load(None).await.unwrap();
        cell.lock().set_flash("notice", "\"hello\"");
        let t = token(&service.persist(&cell).await.unwrap());
        let barrier = Arc::new(Barrier::new(readers));
        let tasks: Vec<_> = (0..readers)
            .map(|_| {
                let (service, t, barrier) = (service.clone(), t.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    let cell = service.load(Some(&t)).await.unwrap();
                    let taken = cell.lock().take_flash("notice");
                    // The handler's own work (a template, a database call).
                    tokio::task::yield_now().await;
                    service.persist(&cell).await.unwrap();
                    taken.is_some()
                })
            })
            .collect();
        let mut seen = 0;
        for task in tasks {
            seen += usize::from(task.await.unwrap());
        }
        let after = service.load(Some(&t)).await.unwrap();
        let again = after.lock().take_flash("notice").is_some();
        (seen == 0 || again).then(|| format!("read by {seen} requests, then again: {again}"))
    })
    .await
    .assert_none(&format!(
        "{kind:?}: a flash set once was not read, or read again after"
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_a_flash_is_read_by_concurrent_requests_and_none_after() {
    flash_taken_once(Kind::Memory, 200, 8).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_a_flash_is_read_by_concurrent_requests_and_none_after() {
    flash_taken_once(Kind::File, 30, 8).await;
}

/// Compare-and-set: of many concurrent increments each conditional on the
/// revision it loaded, exactly the successful ones count.
async fn compare_and_set_counts(kind: Kind, max: usize, writers: usize) {
    let backing = backing(kind);
    let service = service(&backing);
    rounds(max, |_| async {
        let t = warm_session(&service).await;
        let barrier = Arc::new(Barrier::new(writers));
        let tasks: Vec<_> = (0..writers)
            .map(|_| {
                let (service, t, barrier) = (service.clone(), t.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    let cell = service.load(Some(&t)).await.unwrap();
                    {
                        let mut state = cell.lock();
                        state.require_unchanged_revision();
                        let n: u64 = state.field("n").map_or(0, |v| v.parse().unwrap());
                        state.set_field("n", (n + 1).to_string());
                    }
                    tokio::task::yield_now().await;
                    match service.persist(&cell).await {
                        Ok(p) => {
                            assert!(matches!(p.outcome, PersistOutcome::Saved { .. }));
                            true
                        }
                        Err(SessionError::Conflict { .. }) => false,
                        Err(other) => panic!("{other:?}"),
                    }
                })
            })
            .collect();
        let mut ok = 0u64;
        for task in tasks {
            ok += u64::from(task.await.unwrap());
        }
        let cell = service.load(Some(&t)).await.unwrap();
        let n: u64 = cell.lock().field("n").map_or(0, |v| v.parse().unwrap());
        (n != ok || ok == 0).then(|| format!("{ok} successful increments, n = {n}"))
    })
    .await
    .assert_none(&format!("{kind:?}: compare-and-set increments"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_compare_and_set_increments_are_never_lost() {
    compare_and_set_counts(Kind::Memory, 300, 16).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_compare_and_set_increments_are_never_lost() {
    compare_and_set_counts(Kind::File, 30, 16).await;
}

/// A logout racing writes: once it and they are done, the session is gone
/// for good (no record, no listing entry, the token loads no login).
async fn logout_racing_writes(kind: Kind, max: usize, writers: usize) {
    let backing = backing(kind);
    let service = service(&backing);
    rounds(max, |_| async {
        let anon = warm_session(&service).await;
        let t = login(&service, &anon, "u").await;
        let id = service.session_id_from_token(&t).unwrap();
        let barrier = Arc::new(Barrier::new(writers + 1));
        let tasks: Vec<_> = (0..writers)
            .map(|w| {
                let (service, t, barrier) = (service.clone(), t.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    for n in 0.. {
                        match write(&service, &t, &format!("w{w}_{n}")).await {
                            PersistOutcome::Saved { .. } => {}
                            // A new anonymous session: not this one.
                            PersistOutcome::Created | PersistOutcome::Vanished => break,
                            other => panic!("{other:?}"),
                        }
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();
        barrier.wait().await;
        // What `Auth::logout` does: delete now, and again at persist.
        let cell = service.load(Some(&t)).await.unwrap();
        let loaded = cell.lock().stored_id();
        if let Some(loaded) = loaded {
            service.destroy_session(&loaded).await.unwrap();
        }
        cell.lock().destroy();
        let p = service.persist(&cell).await.unwrap();
        assert_eq!(p.outcome, PersistOutcome::Destroyed);
        for task in tasks {
            task.await.unwrap();
        }
        let mut what = Vec::new();
        if service.record(&id).await.unwrap().is_some() {
            what.push("the record is back");
        }
        if !service.list_for_user("u").await.unwrap().is_empty() {
            what.push("the user lists a session");
        }
        let cell = service.load(Some(&t)).await.unwrap();
        if cell.lock().binding().is_some() {
            what.push("the token still loads the login");
        }
        (!what.is_empty()).then(|| what.join("; "))
    })
    .await
    .assert_none(&format!("{kind:?}: a logout racing writes"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_a_logout_racing_writes_leaves_nothing_behind() {
    logout_racing_writes(Kind::Memory, 300, 8).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_a_logout_racing_writes_leaves_nothing_behind() {
    logout_racing_writes(Kind::File, 30, 8).await;
}

/// `revoke_all` racing rotations (`Session::rotate`, which keeps the
/// session's login: a password change, say) of the user's sessions: once it
/// returned and the rotations did, no session that was live when it began,
/// nor the id a rotation moved one to, is usable, and the user lists none.
/// (No login runs here: a login is a fresh authentication, and a session it
/// creates after the revocation began may stay.) The memory store walks a
/// snapshot of the user's index, one session at a time: a rotation that
/// creates its new id after the snapshot and deletes the old id before the
/// walk reaches it escapes that pass, so `revoke_all` passes again while
/// the user's listing shows sessions. The file store revokes in one
/// transaction.
async fn revoke_all_racing_rotations(kind: Kind, max: usize, sessions: usize) {
    let backing = backing(kind);
    let service = service(&backing);
    rounds(max, |i| {
        let service = &service;
        async move {
            let user = format!("u{i}");
            let mut tokens = Vec::new();
            for _ in 0..sessions {
                let id = service
                    .create_session(Binding::user(user.as_str()))
                    .await
                    .unwrap();
                tokens.push(service.token_for(&id));
            }
            let barrier = Arc::new(Barrier::new(sessions + 1));
            let tasks: Vec<_> = tokens
                .iter()
                .map(|t| {
                    let (service, t, barrier) = (service.clone(), t.clone(), barrier.clone());
                    tokio::spawn(async move {
                        barrier.wait().await;
                        let cell = service.load(Some(&t)).await.unwrap();
                        let new = cell.lock().rotate();
                        // The handler's own work (a password check, say).
                        tokio::task::yield_now().await;
                        let p = service.persist(&cell).await.unwrap();
                        (new, p)
                    })
                })
                .collect();
            barrier.wait().await;
            service.revoke_all(&user, None).await.unwrap();
            let mut moved = BTreeSet::new();
            for task in tasks {
                let (new, p) = task.await.unwrap();
                if let (Some(new), PersistOutcome::Rotated) = (new, p.outcome) {
                    moved.insert(new);
                }
            }
            let listed = service.list_for_user(&user).await.unwrap();
            let mut usable = Vec::new();
            for t in &tokens {
                let cell = service.load(Some(t)).await.unwrap();
                if cell.lock().binding().is_some() {
                    usable.push("an old token".to_owned());
                }
            }
            for id in &moved {
                let cell = service.load(Some(&service.token_for(id))).await.unwrap();
                if cell.lock().binding().is_some() {
                    usable.push(format!("rotated id {}", id.short()));
                }
            }
            (!usable.is_empty() || !listed.is_empty()).then(|| {
                format!(
                    "usable after revoke_all: {usable:?}; listed: {}",
                    listed.len()
                )
            })
        }
    })
    .await
    .assert_none(&format!("{kind:?}: revoke_all left sessions of the user"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_revoke_all_racing_rotations_leaves_no_session_usable() {
    revoke_all_racing_rotations(Kind::Memory, 5000, 8).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_revoke_all_racing_rotations_leaves_no_session_usable() {
    revoke_all_racing_rotations(Kind::File, 30, 8).await;
}
