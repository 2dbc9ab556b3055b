use session_core::Clock as _;
use session_core::{Binding, PageRequest, SessionId};

use crate::support::{MIN, env, listed, token};
use session_tests::profile::Profile;

#[tokio::test]
async fn create_session_returns_a_unique_id_with_user_and_meta() {
    let env = env();
    let meta = serde_json::json!({"agent": {"name": "curl", "v": [8, 1]}});
    let a = env
        .service
        .create_session(
            Binding::user("u1")
                .with_label("cli")
                .with_meta(meta.clone()),
        )
        .await
        .unwrap();
    let b = env
        .service
        .create_session(Binding::user("u1"))
        .await
        .unwrap();
    assert_ne!(a, b);
    assert_eq!(
        env.service.user_id(&a).await.unwrap().as_deref(),
        Some("u1")
    );
    assert_eq!(env.service.meta(&a).await.unwrap(), Some(meta));
    assert_eq!(env.service.meta(&b).await.unwrap(), None);
}

#[tokio::test]
async fn unknown_ids_read_back_as_none() {
    let env = env();
    let unknown = SessionId::generate();
    assert_eq!(env.service.user_id(&unknown).await.unwrap(), None);
    assert_eq!(env.service.meta(&unknown).await.unwrap(), None);
    assert_eq!(env.service.session_id_from_token(""), None);
    assert!(!env.service.destroy_session(&unknown).await.unwrap());
}

#[tokio::test]
async fn bearer_tokens_round_trip_to_the_session_id() {
    let env = env();
    let id = env
        .service
        .create_session(Binding::user("u"))
        .await
        .unwrap();
    let header = env.service.bearer_for(&id);
    assert_eq!(env.service.session_id_from_bearer(Some(&header)), Some(id));
    assert_eq!(env.service.session_id_from_bearer(Some("Bearer")), None);
    assert_eq!(env.service.session_id_from_bearer(Some("Bearer x.y")), None);
}

#[tokio::test]
async fn a_users_listing_is_most_recent_first_and_only_theirs() {
    let env = env();
    let a = env
        .service
        .create_session(Binding::user("u").with_label("a"))
        .await
        .unwrap();
    env.clock.advance(MIN);
    let b = env
        .service
        .create_session(Binding::user("u").with_label("b"))
        .await
        .unwrap();
    env.service
        .create_session(Binding::user("other"))
        .await
        .unwrap();
    assert_eq!(listed(&env.service, "u").await, vec![b, a]);

    // Using `a` (a write on a later request) makes it the most recent.
    env.clock.advance(MIN);
    let mut s = env
        .service
        .get::<Profile>(Some(&env.service.token_for(&a)))
        .await
        .unwrap();
    session_tests::profile::set_age(&mut s, Some(1));
    env.service.commit(&mut s).await.unwrap();
    assert_eq!(listed(&env.service, "u").await, vec![a, b]);

    // A request that only reads `b` is a use too, recorded once its last
    // one is a minute old (the default interval, set here all the same).
    let recording = crate::support::service_like(&env, |b| b.last_seen_interval(MIN));
    env.clock.advance(MIN);
    let read = |id: SessionId| {
        let token = recording.token_for(&id);
        let service = recording.clone();
        async move {
            let cell = service.load(Some(&token)).await.unwrap();
            service.persist(&cell).await.unwrap().outcome
        }
    };
    assert_eq!(read(b).await, session_core::PersistOutcome::Seen);
    assert_eq!(listed(&env.service, "u").await, vec![b, a]);
    // Within the minute, a read writes nothing.
    env.clock.advance(MIN / 2);
    assert_eq!(read(b).await, session_core::PersistOutcome::Unchanged);
}

#[tokio::test]
async fn recording_a_use_is_for_bound_sessions_and_never_fails_the_read() {
    let env = env();
    let recording = crate::support::service_like(&env, |b| b.last_seen_interval(MIN));
    // An anonymous session is in no listing: no write for it.
    let mut s = recording.get::<Profile>(None).await.unwrap();
    session_tests::profile::set_age(&mut s, Some(1));
    let anonymous = token(&recording.commit(&mut s).await.unwrap());
    let bound = recording.token_for(&recording.create_session(Binding::user("u")).await.unwrap());
    // Used again: its expiry moves to the full lifetime (a refresh).
    env.clock.advance(2 * MIN);
    let cell = recording.load(Some(&anonymous)).await.unwrap();
    let p = recording.persist(&cell).await.unwrap();
    assert_eq!(p.outcome, session_core::PersistOutcome::Refreshed);
    env.clock.advance(2 * MIN);
    env.store.clear();
    let cell = recording.load(Some(&anonymous)).await.unwrap();
    let p = recording.persist(&cell).await.unwrap();
    assert_eq!(p.outcome, session_core::PersistOutcome::Unchanged);
    assert!(env.store.writes().is_empty(), "{:?}", env.store.writes());

    // A store failing the recording leaves the read answered.
    let cell = recording.load(Some(&bound)).await.unwrap();
    env.store.set_down(true);
    let p = recording.persist(&cell).await.unwrap();
    assert_eq!(p.outcome, session_core::PersistOutcome::Unchanged);
    env.store.set_down(false);
    let cell = recording.load(Some(&bound)).await.unwrap();
    let p = recording.persist(&cell).await.unwrap();
    assert_eq!(p.outcome, session_core::PersistOutcome::Seen);
}

#[tokio::test]
async fn reads_record_no_use_when_turned_off() {
    let env = env();
    let quiet = crate::support::service_like(&env, |b| b.no_last_seen_on_reads());
    let a = quiet.create_session(Binding::user("u")).await.unwrap();
    env.clock.advance(10 * MIN);
    env.store.clear();
    let cell = quiet.load(Some(&quiet.token_for(&a))).await.unwrap();
    let p = quiet.persist(&cell).await.unwrap();
    assert_eq!(p.outcome, session_core::PersistOutcome::Unchanged);
    assert!(env.store.writes().is_empty());
}

#[tokio::test]
async fn revoke_removes_only_the_owners_session() {
    let env = env();
    let mine = env
        .service
        .create_session(Binding::user("me"))
        .await
        .unwrap();
    let theirs = env
        .service
        .create_session(Binding::user("them"))
        .await
        .unwrap();
    assert!(
        !env.service.revoke("me", &theirs).await.unwrap(),
        "another user's session"
    );
    assert!(env.service.user_id(&theirs).await.unwrap().is_some());
    assert!(env.service.revoke("me", &mine).await.unwrap());
    assert!(env.service.list_for_user("me").await.unwrap().is_empty());
    assert!(
        !env.service
            .load(Some(&env.service.token_for(&mine)))
            .await
            .unwrap()
            .lock()
            .is_loaded()
    );
}

#[tokio::test]
async fn revoke_all_but_the_current_one() {
    let env = env();
    let mut s = env.service.get::<Profile>(None).await.unwrap();
    let current = s.login(Binding::user("me"));
    let t = token(&env.service.commit(&mut s).await.unwrap());
    for _ in 0..3 {
        env.service
            .create_session(Binding::user("me"))
            .await
            .unwrap();
    }
    assert_eq!(
        env.service.revoke_all("me", Some(&current)).await.unwrap(),
        3
    );
    assert_eq!(listed(&env.service, "me").await, vec![current]);
    assert!(env.service.load(Some(&t)).await.unwrap().lock().is_loaded());
}

#[tokio::test]
async fn listing_all_sessions_pages_through_them() {
    let env = env();
    for i in 0..5 {
        env.service
            .create_session(Binding::user(format!("u{i}")))
            .await
            .unwrap();
    }
    let first = env.service.list(PageRequest::first(3)).await.unwrap();
    assert_eq!(first.items.len(), 3);
    let rest = env
        .service
        .list(PageRequest {
            cursor: first.next.clone(),
            limit: 3,
        })
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 2);
    assert_eq!(rest.next, None);
    let all = env.service.list(PageRequest::default()).await.unwrap();
    assert_eq!(all.items.len(), 5, "the default page holds them all");
    let _ = env.clock.now();
}

/// A handle listed before a key rotation still revokes its session while
/// the old key verifies; the listing then shows the new key's handle.
#[tokio::test]
async fn a_handle_from_before_a_key_rotation_still_revokes() {
    use session_core::{Key, SessionService, SigningKeys};
    let env = env();
    let id = env
        .service
        .create_session(Binding::user("ada").with_label("laptop"))
        .await
        .unwrap();
    let before = env.service.list_with_handles("ada", None).await.unwrap()[0].clone();
    assert_eq!(before.handle, env.service.handle_of(&id));
    assert_eq!(before.label.as_deref(), Some("laptop"));

    let new = Key::new([2u8; 32]).unwrap();
    let old = env.keys.primary().clone();
    let rotated = SessionService::builder()
        .store(env.store.clone())
        .keys(&SigningKeys::new([new, old]).unwrap())
        .token_context("sid")
        .clock(std::sync::Arc::new(env.clock.clone()))
        .build()
        .unwrap();
    let after = rotated.list_with_handles("ada", Some(&id)).await.unwrap();
    assert_ne!(after[0].handle, before.handle);
    assert!(after[0].current);
    assert!(
        !rotated
            .revoke_by_handle("bob", &before.handle)
            .await
            .unwrap()
    );
    assert!(
        rotated
            .revoke_by_handle("ada", &before.handle)
            .await
            .unwrap()
    );
    assert!(rotated.list_for_user("ada").await.unwrap().is_empty());
}

/// A listed session's end: its login's own absolute limit, else the
/// policy's, after its login; none without either.
#[tokio::test]
async fn a_listed_session_ends_at_its_absolute_limit() {
    use std::time::Duration;
    let hour = Duration::from_secs(3600);
    let keys = session_core::SigningKeys::single(session_core::Key::new([1u8; 32]).unwrap());
    let limited = crate::support::env_with(
        session_core::ExpiryPolicy {
            absolute: Some(8 * hour),
            ..crate::support::policy()
        },
        keys.clone(),
    );
    let open = crate::support::env_with(crate::support::policy(), keys);
    for env in [&limited, &open] {
        env.service
            .create_session(Binding::user("ada").with_label("policy"))
            .await
            .unwrap();
        env.clock.advance(Duration::from_millis(5));
        env.service
            .create_session(
                Binding::user("ada")
                    .with_label("own")
                    .with_absolute(90 * 24 * hour),
            )
            .await
            .unwrap();
    }
    let ends = |listed: Vec<session_core::ListedSession>| {
        listed
            .into_iter()
            .map(|s| {
                (
                    s.label.unwrap(),
                    s.ends_at.map(|e| e.as_millis() - s.created_at.as_millis()),
                )
            })
            .collect::<Vec<_>>()
    };
    let ms = |d: Duration| Some(d.as_millis() as u64);
    assert_eq!(
        ends(
            limited
                .service
                .list_with_handles("ada", None)
                .await
                .unwrap()
        ),
        [
            ("own".to_owned(), ms(90 * 24 * hour)),
            ("policy".to_owned(), ms(8 * hour))
        ]
    );
    assert_eq!(
        ends(open.service.list_with_handles("ada", None).await.unwrap()),
        [
            ("own".to_owned(), ms(90 * 24 * hour)),
            ("policy".to_owned(), None)
        ]
    );
}
