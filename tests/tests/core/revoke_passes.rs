//! `revoke_all` passes again while the user's listing shows sessions other
//! than the one to keep: what a rotation landing between two passes does.

use std::sync::{Arc, Mutex};

use session_core::conformance::RecordingStore;
use session_core::{Binding, MemoryStore, MockClock, SessionService, SessionStore};
use session_tests::hooked::{After, Hooked, OnceHook};

use crate::support::{service_on, token};

/// Runs a hook once, right after the first `delete_for_user`: another
/// request's work landing between two passes.
#[derive(Clone, Default)]
struct BetweenPasses {
    hook: OnceHook,
}

#[session_axum::async_trait]
impl After for BetweenPasses {
    async fn deleted_for_user(&self, _: &str) {
        self.hook.run().await;
    }
}

/// "Log out my other devices" keeps the session of the request asking
/// (`Auth::revoke_others` passes it as `keep`). Another request of that
/// browser rotates it (a privilege change, say) while the revocation runs:
/// the next pass reads the listing again and finds the rotated id, which
/// is not `keep`: it must keep it (the kept session's marker names the id
/// it moved to), or the device that asked to stay logged in is logged out
/// and the count includes its own session.
#[tokio::test]
async fn revoke_all_keeps_the_kept_session_that_a_rotation_moved_between_passes() {
    let clock = MockClock::starting_now();
    let inner = MemoryStore::with_clock(Arc::new(clock.clone()));
    let between = BetweenPasses::default();
    let hook = between.hook.clone();
    let store = Hooked::new(Arc::new(inner.clone()), between);
    let service = service_on(Arc::new(store), &clock);
    // The other request runs on the same sessions, outside the hook.
    let other = service_on(Arc::new(inner), &clock);

    let kept = service.create_session(Binding::user("u")).await.unwrap();
    service.create_session(Binding::user("u")).await.unwrap();
    let moved_to: Arc<Mutex<Option<String>>> = Arc::default();
    hook.set({
        let (other, t, moved_to) = (other.clone(), service.token_for(&kept), moved_to.clone());
        async move {
            let cell = other.load(Some(&t)).await.unwrap();
            cell.lock().rotate().expect("a stored session to move");
            let p = other.persist(&cell).await.unwrap();
            *moved_to.lock().unwrap() = Some(token(&p));
        }
    });

    let revoked = service.revoke_all("u", Some(&kept)).await.unwrap();

    let t = moved_to.lock().unwrap().clone().expect("the rotation ran");
    let cell = service.load(Some(&t)).await.unwrap();
    assert!(
        cell.lock().binding().is_some(),
        "the kept session, rotated between passes, was revoked (count {revoked})"
    );
    assert_eq!(revoked, 1, "only the other device's session went");
}

/// Takes the store down right after the first `delete_for_user`: the
/// store's recording (to bring it back) and a service on it.
struct DownAfterPass(RecordingStore<MemoryStore>);

#[session_axum::async_trait]
impl After for DownAfterPass {
    async fn deleted_for_user(&self, _: &str) {
        self.0.set_down(true);
    }
}

fn down_after_first_pass() -> (RecordingStore<MemoryStore>, SessionService) {
    let clock = MockClock::starting_now();
    let recording = RecordingStore::new(MemoryStore::with_clock(Arc::new(clock.clone())));
    let store = Hooked::new(
        Arc::new(recording.clone()),
        DownAfterPass(recording.clone()),
    );
    (recording, service_on(Arc::new(store), &clock))
}

/// The listing after a pass only checks for sessions a rotation moved
/// out of the pass's reach. When it fails (a store outage starting right
/// after the pass), the sessions the pass deleted are gone all the same:
/// the call reports them, not an error that would read as "nothing
/// happened" and hide that the user's devices were logged out.
#[tokio::test]
async fn revoke_all_reports_the_sessions_a_pass_deleted_when_the_check_after_it_fails() {
    let (recording, service) = down_after_first_pass();
    let kept = service.create_session(Binding::user("u")).await.unwrap();
    service.create_session(Binding::user("u")).await.unwrap();
    service.create_session(Binding::user("u")).await.unwrap();

    let revoked = service.revoke_all("u", Some(&kept)).await;

    recording.set_down(false);
    let left = crate::support::listed(&service, "u").await;
    assert_eq!(left, vec![kept], "the pass deleted the other sessions");
    assert_eq!(
        revoked.expect("the pass succeeded; only the check after it failed"),
        2
    );
}

/// Takes the store's deletes down right after the first `delete_for_user`,
/// once a session of the user landed out of that pass's reach (a rotation
/// moving one, say): the listing after the pass shows it, and the pass that
/// should delete it fails.
struct LandsThenDeletesFail {
    recording: RecordingStore<MemoryStore>,
    inner: MemoryStore,
    clock: MockClock,
    fired: std::sync::atomic::AtomicBool,
}

#[session_axum::async_trait]
impl After for LandsThenDeletesFail {
    async fn deleted_for_user(&self, user_id: &str) {
        if self.fired.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let now = session_core::Clock::now(&self.clock);
        let mut record = session_core::SessionRecord::new(
            session_core::SessionId::generate(),
            now,
            now + crate::support::MIN * 60,
        );
        record.binding = Some(Box::new(Binding::user(user_id)));
        self.inner.create(&record).await.unwrap();
        self.recording.fail_deletes(true);
    }
}

/// "Log out my other devices" must not answer success while a session of
/// the user is known to be left: the listing after the first pass showed
/// one, and the pass that should have deleted it failed. An error tells
/// the caller to try again; a count reads as "done".
#[tokio::test]
async fn revoke_all_fails_when_a_session_it_found_left_could_not_be_deleted() {
    let clock = MockClock::starting_now();
    let inner = MemoryStore::with_clock(Arc::new(clock.clone()));
    let recording = RecordingStore::new(inner.clone());
    let store = Hooked::new(
        Arc::new(recording.clone()),
        LandsThenDeletesFail {
            recording: recording.clone(),
            inner,
            clock: clock.clone(),
            fired: Default::default(),
        },
    );
    let service = service_on(Arc::new(store), &clock);
    let kept = service.create_session(Binding::user("u")).await.unwrap();
    service.create_session(Binding::user("u")).await.unwrap();

    let revoked = service.revoke_all("u", Some(&kept)).await;

    recording.fail_deletes(false);
    let left = service.list_for_user("u").await.unwrap().len();
    assert_eq!(left, 2, "the kept session and the one that landed");
    assert!(
        revoked.is_err(),
        "a session of the user is left, yet revoke_all answered {revoked:?}"
    );
}

/// A first pass that deleted nothing has nothing an error would hide: a
/// failure of the check after it is the caller's to see, not `Ok(0)`,
/// which reads as "the user had no other session".
#[tokio::test]
async fn revoke_all_that_deleted_nothing_reports_a_failing_check() {
    let (_, service) = down_after_first_pass();
    let kept = service.create_session(Binding::user("u")).await.unwrap();

    let revoked = service.revoke_all("u", Some(&kept)).await;

    assert!(
        revoked.is_err(),
        "the check after a pass that deleted nothing failed, yet revoke_all answered {revoked:?}"
    );
}
