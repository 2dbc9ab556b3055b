//! Behaviours the seeds imply that no other module tests directly; each
//! names the seeds it comes from.

use session_core::Clock as _;
use session_core::{Binding, PageRequest, PersistOutcome, SessionStore as _};

use crate::support::{MIN, env, listed, policy, service_like, token};
use session_tests::profile::{Profile, set_age};

/// authsessions: destroying a session removes it from *every* listing: the
/// user's and the list of all sessions (`listSessions`); a second destroy
/// and an unknown id are no-ops.
#[tokio::test]
async fn destroy_removes_the_session_from_every_listing() {
    let env = env();
    let a = env
        .service
        .create_session(Binding::user("u").with_label("a"))
        .await
        .unwrap();
    let b = env
        .service
        .create_session(Binding::user("u").with_label("b"))
        .await
        .unwrap();
    assert!(env.service.destroy_session(&a).await.unwrap());
    assert_eq!(listed(&env.service, "u").await, vec![b]);
    let all = env.service.list(PageRequest::default()).await.unwrap();
    let ids: Vec<_> = all.items.iter().map(|i| i.id).collect();
    assert_eq!(
        ids,
        vec![b],
        "list of all sessions still holds the destroyed one"
    );
    assert!(!env.service.destroy_session(&a).await.unwrap());
    assert_eq!(env.service.user_id(&a).await.unwrap(), None);
    assert_eq!(env.service.meta(&a).await.unwrap(), None);
}

/// authsessions: `getSessionIdFromAuthToken(req.headers.authorization)` with
/// no header, an empty one, or another scheme gives none; the label of a
/// created session reads back through the listing.
#[tokio::test]
async fn missing_empty_or_foreign_authorization_gives_none() {
    let env = env();
    let id = env
        .service
        .create_session(Binding::user("u").with_label("laptop"))
        .await
        .unwrap();
    let token = env.service.token_for(&id);
    assert_eq!(env.service.session_id_from_bearer(None), None);
    assert_eq!(env.service.session_id_from_bearer(Some("")), None);
    assert_eq!(env.service.session_id_from_bearer(Some("   ")), None);
    assert_eq!(
        env.service
            .session_id_from_bearer(Some(&format!("Basic {token}"))),
        None
    );
    assert_eq!(
        env.service
            .session_id_from_bearer(Some(&format!("Bearer {token}x"))),
        None
    );
    assert_eq!(
        env.service
            .session_id_from_bearer(Some(&env.service.bearer_for(&id))),
        Some(id)
    );
    let infos = env.service.list_for_user("u").await.unwrap();
    assert_eq!(infos[0].label.as_deref(), Some("laptop"));
}

/// Travetto: an expired record found on load is absent *and removed*, also
/// when authsessions-style reads (`user_id`, `meta`, `record`) find it past
/// the policy's absolute limit.
#[tokio::test]
async fn an_expired_record_read_by_id_is_removed_like_on_a_request_load() {
    let env = env();
    let id = env
        .service
        .create_session(Binding::user("u"))
        .await
        .unwrap();
    let mut strict_policy = policy();
    strict_policy.absolute = Some(30 * MIN);
    let strict = service_like(&env, |b| b.expiry(strict_policy));
    env.clock.advance(40 * MIN);
    assert_eq!(
        strict.user_id(&id).await.unwrap(),
        None,
        "treated as absent"
    );
    assert_eq!(
        env.store.inner().load(&id).await.unwrap().map(|r| r.id),
        None,
        "an expired record found by `user_id` was left in the store"
    );
}

/// hexancore, Spring Session: revoke-all without a session to keep, at the service:
/// every session of the user leaves the store and the index, and none of
/// their tokens loads again; another user's stays.
#[tokio::test]
async fn revoke_all_without_keep_removes_every_session_of_the_user() {
    let env = env();
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(
            env.service
                .create_session(Binding::user("me"))
                .await
                .unwrap(),
        );
    }
    let other = env
        .service
        .create_session(Binding::user("other"))
        .await
        .unwrap();
    assert_eq!(env.service.revoke_all("me", None).await.unwrap(), 3);
    assert!(listed(&env.service, "me").await.is_empty());
    for id in &ids {
        assert_eq!(env.store.inner().load(id).await.unwrap(), None);
        let cell = env
            .service
            .load(Some(&env.service.token_for(id)))
            .await
            .unwrap();
        assert!(!cell.lock().is_loaded());
    }
    assert_eq!(listed(&env.service, "other").await, vec![other]);
}

/// hexancore: a session created for a user outright (authsessions'
/// `createSession`) is logged in: full `lifetime`, not `initial_lifetime`.
#[tokio::test]
async fn a_session_created_for_a_user_gets_the_full_lifetime() {
    let env = env();
    let now = env.clock.now();
    let id = env
        .service
        .create_session(Binding::user("u"))
        .await
        .unwrap();
    let info = &env.service.list_for_user("u").await.unwrap()[0];
    assert_eq!(info.id, id);
    assert_eq!(info.expires_at, now + 60 * MIN);
    // Still there past the initial lifetime.
    env.clock.advance(10 * MIN);
    assert_eq!(
        env.service.user_id(&id).await.unwrap().as_deref(),
        Some("u")
    );
}

/// Travetto: a session that is loaded, changed and changed back in the same
/// request persists nothing (compared by value with what was loaded).
#[tokio::test]
async fn a_change_undone_in_the_same_request_writes_nothing() {
    let env = env();
    let mut s = env.service.get::<Profile>(None).await.unwrap();
    set_age(&mut s, Some(20));
    let t = token(&env.service.commit(&mut s).await.unwrap());
    env.store.clear();
    let mut s = env.service.get::<Profile>(Some(&t)).await.unwrap();
    set_age(&mut s, Some(21));
    set_age(&mut s, Some(20));
    s.update(|p| p.age = Some(20));
    assert_eq!(
        env.service.commit(&mut s).await.unwrap().outcome,
        PersistOutcome::Unchanged
    );
    assert!(env.store.writes().is_empty(), "{:?}", env.store.writes());
}

/// authsessions: "most recently used first": a request that only reads an
/// older logged-in session moves it up the listing, by default.
#[tokio::test]
async fn by_default_a_read_only_use_makes_a_session_most_recent() {
    let env = env();
    let a = env
        .service
        .create_session(Binding::user("u"))
        .await
        .unwrap();
    env.clock.advance(MIN);
    let b = env
        .service
        .create_session(Binding::user("u"))
        .await
        .unwrap();
    assert_eq!(listed(&env.service, "u").await, vec![b, a]);
    env.clock.advance(10 * MIN);
    // A request using `a` that only reads it.
    let cell = env
        .service
        .load(Some(&env.service.token_for(&a)))
        .await
        .unwrap();
    assert!(cell.lock().is_loaded());
    assert_eq!(
        env.service.persist(&cell).await.unwrap().outcome,
        PersistOutcome::Seen
    );
    assert_eq!(
        listed(&env.service, "u").await,
        vec![a, b],
        "the session just used is not listed first"
    );
}
