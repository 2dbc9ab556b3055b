//! `SessionService::set_permissions`: a live login's permissions change in
//! place, also in a session a rotation moved while the change ran.

use std::sync::{Arc, Mutex};

use session_core::{
    Binding, CookieStore, MemoryStore, MockClock, SessionId, SessionService, SessionStore,
    StoreError,
};
use session_tests::hooked::{After, Hooked, OnceHook};

use crate::support::{service_on, token};

/// Runs a hook once, right after the first `rebind`: another request's
/// work landing in the middle of a pass.
#[derive(Clone, Default)]
struct AfterFirstRebind {
    hook: OnceHook,
}

#[session_axum::async_trait]
impl After for AfterFirstRebind {
    async fn rebound(&self, _: &SessionId) {
        self.hook.run().await;
    }
}

async fn permissions(service: &SessionService, token: &str) -> Option<Vec<String>> {
    let cell = service.load(Some(token)).await.unwrap();
    let state = cell.lock();
    state.binding().map(|b| b.permissions.clone())
}

#[tokio::test]
async fn every_live_session_of_the_user_gets_the_permissions_and_no_other() {
    let clock = MockClock::starting_now();
    let service = service_on(
        Arc::new(MemoryStore::with_clock(Arc::new(clock.clone()))),
        &clock,
    );
    let phone = service.create_session(Binding::user("ada")).await.unwrap();
    let laptop = service
        .create_session(Binding::user("ada").with_permissions(["admin"]))
        .await
        .unwrap();
    let bob = service.create_session(Binding::user("bob")).await.unwrap();

    // The laptop already holds them: one session changes.
    assert_eq!(service.set_permissions("ada", ["admin"]).await.unwrap(), 1);
    for id in [phone, laptop] {
        let t = service.token_for(&id);
        assert_eq!(
            permissions(&service, &t).await,
            Some(vec!["admin".to_owned()])
        );
    }
    assert_eq!(
        permissions(&service, &service.token_for(&bob)).await,
        Some(vec![])
    );
    // Taken away again, without a logout.
    assert_eq!(
        service
            .set_permissions("ada", Vec::<String>::new())
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        permissions(&service, &service.token_for(&phone)).await,
        Some(vec![])
    );
    assert_eq!(
        service.set_permissions("nobody", ["admin"]).await.unwrap(),
        0
    );
}

/// A request loaded the user's session before the change and rotates it
/// while the change runs: its new session is written from what it loaded,
/// with the old permissions. The pass after finds it in the user's
/// listing and changes it too.
#[tokio::test]
async fn a_session_a_rotation_moved_during_the_change_gets_the_permissions_too() {
    let clock = MockClock::starting_now();
    let inner = MemoryStore::with_clock(Arc::new(clock.clone()));
    let after = AfterFirstRebind::default();
    let hook = after.hook.clone();
    let service = service_on(
        Arc::new(Hooked::new(Arc::new(inner.clone()), after)),
        &clock,
    );
    let other = service_on(Arc::new(inner), &clock);

    let id = service.create_session(Binding::user("ada")).await.unwrap();
    let loaded = other.load(Some(&service.token_for(&id))).await.unwrap();
    let moved_to: Arc<Mutex<Option<String>>> = Arc::default();
    hook.set({
        let (other, moved_to) = (other.clone(), moved_to.clone());
        async move {
            loaded.lock().rotate().expect("a stored session to move");
            let p = other.persist(&loaded).await.unwrap();
            *moved_to.lock().unwrap() = Some(token(&p));
        }
    });

    service.set_permissions("ada", ["admin"]).await.unwrap();

    let t = moved_to.lock().unwrap().clone().expect("the rotation ran");
    assert_eq!(
        permissions(&service, &t).await,
        Some(vec!["admin".to_owned()]),
        "the session a rotation moved during the change kept the old permissions"
    );
}

/// Sessions in the browser's cookie cannot be reached from the server.
#[tokio::test]
async fn a_client_side_store_refuses_the_change() {
    let clock = MockClock::starting_now();
    let service = service_on(Arc::new(CookieStore::signed()), &clock);
    let refused = service.set_permissions("ada", ["admin"]).await;
    assert!(
        matches!(
            refused,
            Err(session_core::SessionError::Store(
                StoreError::Unsupported { .. }
            ))
        ),
        "{refused:?}"
    );
}

/// A request loaded the user's session before the change and rotates it
/// after the change ended (a plain rotation, not a login): the rotation
/// re-reads the old record just before the move, so it carries the new
/// permissions rather than writing back the ones it loaded.
#[tokio::test]
async fn a_rotation_that_loaded_before_the_change_and_moves_after_it_keeps_the_new_permissions() {
    let clock = MockClock::starting_now();
    let service = service_on(
        Arc::new(MemoryStore::with_clock(Arc::new(clock.clone()))),
        &clock,
    );
    let id = service
        .create_session(Binding::user("ada").with_permissions(["admin"]))
        .await
        .unwrap();
    let loaded = service.load(Some(&service.token_for(&id))).await.unwrap();

    // Taken away while the request runs.
    assert_eq!(
        service
            .set_permissions("ada", Vec::<String>::new())
            .await
            .unwrap(),
        1
    );

    loaded.lock().rotate().expect("a stored session to move");
    let p = service.persist(&loaded).await.unwrap();
    assert_eq!(
        permissions(&service, &token(&p)).await,
        Some(vec![]),
        "the rotation gave the taken permissions back"
    );
}

/// A login's own binding is what the app chose at that login: a change
/// made meanwhile does not replace it.
#[tokio::test]
async fn a_login_after_the_change_keeps_the_binding_it_chose() {
    let clock = MockClock::starting_now();
    let service = service_on(
        Arc::new(MemoryStore::with_clock(Arc::new(clock.clone()))),
        &clock,
    );
    let id = service.create_session(Binding::user("ada")).await.unwrap();
    let loaded = service.load(Some(&service.token_for(&id))).await.unwrap();
    service.set_permissions("ada", ["admin"]).await.unwrap();
    loaded
        .lock()
        .login(Binding::user("ada").with_permissions(["billing"]));
    let p = service.persist(&loaded).await.unwrap();
    assert_eq!(
        permissions(&service, &token(&p)).await,
        Some(vec!["billing".to_owned()])
    );
}

/// A pass that fails half-way: the error is returned, and the warning
/// counts the sessions the pass changed before it (here the first listed),
/// not only those of earlier passes. (Current-thread: the capture is this
/// thread's.)
#[tokio::test]
async fn an_error_half_way_through_the_first_pass_is_logged_with_what_changed() {
    use session_core::clock::Clock as _;
    let clock = MockClock::starting_now();
    let store = MemoryStore::with_limit(Arc::new(clock.clone()), 1000);
    let service = service_on(Arc::new(store.clone()), &clock);
    // Listed last (least recent): near the limit, so the grant is refused.
    let now = clock.now();
    let mut big = session_core::SessionRecord::new(
        SessionId::generate(),
        now,
        now.plus(std::time::Duration::from_secs(3600)),
    );
    big.binding = Some(Box::new(Binding::user("ada")));
    big.fields
        .insert("blob", format!("\"{}\"", "x".repeat(900)).as_str());
    store.create(&big).await.unwrap();
    clock.advance(std::time::Duration::from_secs(1));
    let small = service.create_session(Binding::user("ada")).await.unwrap();

    let (log, _guard) = session_tests::logs::capture();
    let granted = service.set_permissions("ada", ["r".repeat(200)]).await;
    assert!(
        matches!(
            granted,
            Err(session_core::SessionError::Store(
                StoreError::TooLarge { .. }
            ))
        ),
        "{granted:?}"
    );
    let binding = service
        .record(&small)
        .await
        .unwrap()
        .unwrap()
        .binding
        .unwrap();
    assert_eq!(
        binding.permissions,
        ["r".repeat(200)],
        "the first listed changed"
    );
    let text = log.text();
    assert!(
        text.lines()
            .any(|l| l.contains(" WARN ") && l.contains("changed=1")),
        "{text}"
    );
}

/// A request that loaded the session before the change and saves a field
/// after it writes the field only: the new permissions stay, and so do
/// the binding's remember-me settings, the expiry and the data.
#[tokio::test]
async fn a_field_saved_after_the_change_by_a_request_loaded_before_keeps_the_new_binding() {
    let clock = MockClock::starting_now();
    let service = service_on(
        Arc::new(MemoryStore::with_clock(Arc::new(clock.clone()))),
        &clock,
    );
    let remembered = Binding::user("ada")
        .with_label("laptop")
        .with_cookie_lifetime(session_core::CookieLifetime::UntilExpiry)
        .with_lifetime(std::time::Duration::from_secs(7 * 86_400))
        .with_absolute(std::time::Duration::from_secs(30 * 86_400));
    let id = service.create_session(remembered.clone()).await.unwrap();
    let before = service.record(&id).await.unwrap().unwrap();
    let loaded = service.load(Some(&service.token_for(&id))).await.unwrap();

    assert_eq!(service.set_permissions("ada", ["admin"]).await.unwrap(), 1);
    loaded.lock().set_field("count", "1");
    service.persist(&loaded).await.unwrap();

    let after = service.record(&id).await.unwrap().unwrap();
    assert_eq!(
        after.binding.as_deref(),
        Some(&remembered.with_permissions(["admin"]))
    );
    assert_eq!(after.expires_at, before.expires_at);
    assert_eq!(after.fields.get("count"), Some("1"));
}

/// One session the change cannot be written to (here too large with the
/// new binding) does not keep the user's others at their old
/// permissions: those listed after it change too, and the error is still
/// returned, the warning counting both.
#[tokio::test]
async fn a_session_that_cannot_change_does_not_stop_the_others() {
    use session_core::clock::Clock as _;
    let clock = MockClock::starting_now();
    let store = MemoryStore::with_limit(Arc::new(clock.clone()), 1000);
    let service = service_on(Arc::new(store.clone()), &clock);
    let small = service.create_session(Binding::user("ada")).await.unwrap();
    clock.advance(std::time::Duration::from_secs(1));
    // Listed first (most recent): near the limit, so the grant is refused.
    let now = clock.now();
    let mut big = session_core::SessionRecord::new(
        SessionId::generate(),
        now,
        now.plus(std::time::Duration::from_secs(3600)),
    );
    big.binding = Some(Box::new(Binding::user("ada")));
    big.fields
        .insert("blob", format!("\"{}\"", "x".repeat(900)).as_str());
    store.create(&big).await.unwrap();
    assert_eq!(
        crate::support::listed(&service, "ada").await,
        [big.id, small],
        "the big session is listed first"
    );

    let (log, _guard) = session_tests::logs::capture();
    let granted = service.set_permissions("ada", ["r".repeat(200)]).await;
    assert!(
        matches!(
            granted,
            Err(session_core::SessionError::Store(
                StoreError::TooLarge { .. }
            ))
        ),
        "{granted:?}"
    );
    let permissions_of = |id| {
        let service = service.clone();
        async move {
            let record = service.record(&id).await.unwrap().unwrap();
            record.binding.unwrap().permissions
        }
    };
    assert_eq!(
        permissions_of(small).await,
        ["r".repeat(200)],
        "the session listed after the one refused kept its old permissions"
    );
    assert!(permissions_of(big.id).await.is_empty());
    let text = log.text();
    assert!(
        text.lines()
            .any(|l| l.contains(" WARN ") && l.contains("changed=1") && l.contains("failed=1")),
        "{text}"
    );
}

/// A store that is down stops the change at once: the user's other
/// sessions are not tried one by one against it.
#[tokio::test]
async fn an_unavailable_store_stops_the_change_at_once() {
    let clock = MockClock::starting_now();
    let store = session_core::conformance::RecordingStore::new(MemoryStore::with_clock(Arc::new(
        clock.clone(),
    )));
    let service = service_on(Arc::new(store.clone()), &clock);
    for _ in 0..3 {
        service.create_session(Binding::user("ada")).await.unwrap();
        clock.advance(std::time::Duration::from_secs(1));
    }
    store.clear();
    store.fail_saves(true);

    let refused = service.set_permissions("ada", ["admin"]).await;
    assert!(
        refused.as_ref().is_err_and(|e| e.is_unavailable()),
        "{refused:?}"
    );
    let rebinds = store
        .writes()
        .into_iter()
        .filter(|op| matches!(op, session_core::conformance::StoreOp::Rebind(..)))
        .count();
    assert_eq!(rebinds, 1, "went on against a store that is down");
}
