use session_core::Clock as _;
use session_core::conformance::StoreOp;
use session_core::{CookieAction, ExpiryPolicy, Key, PersistOutcome, SessionStore, SigningKeys};

use crate::support::{MIN, env, env_with, listed, policy, service_like, token};
use session_tests::profile::{Profile, set_age};

async fn logged_in(env: &crate::support::Env) -> (String, session_core::SessionId) {
    let mut s = env.service.get::<Profile>(None).await.unwrap();
    s.login(session_core::Binding::user("u"));
    let p = env.service.commit(&mut s).await.unwrap();
    env.store.clear();
    (token(&p), p.id.unwrap())
}

/// The record the store holds for `id` (present).
async fn stored(
    env: &crate::support::Env,
    id: &session_core::SessionId,
) -> session_core::SessionRecord {
    env.store.inner().load(id).await.unwrap().unwrap()
}

#[tokio::test]
async fn no_refresh_while_more_than_the_threshold_is_left() {
    let env = env();
    let (t, id) = logged_in(&env).await;
    let expires_at = stored(&env, &id).await.expires_at;
    env.clock.advance(29 * MIN);
    // Reads recording no use: nothing to write at all.
    let quiet = service_like(&env, |b| b.no_last_seen_on_reads());
    let cell = quiet.load(Some(&t)).await.unwrap();
    let p = quiet.persist(&cell).await.unwrap();
    assert_eq!(
        (p.outcome, p.cookie),
        (PersistOutcome::Unchanged, CookieAction::Keep)
    );
    assert!(env.store.writes().is_empty());
    // By default the read records its use, and only that: same expiry, same cookie.
    let cell = env.service.load(Some(&t)).await.unwrap();
    let p = env.service.persist(&cell).await.unwrap();
    assert_eq!(
        (p.outcome, p.cookie),
        (PersistOutcome::Seen, CookieAction::Keep)
    );
    assert_eq!(stored(&env, &id).await.expires_at, expires_at);
}

/// With reads recording their use, a read that found no refresh due must
/// not set the expiry it loaded over a refresh another request made meanwhile.
#[tokio::test]
async fn a_read_recording_its_use_does_not_undo_a_concurrent_refresh() {
    let env = env();
    let service = service_like(&env, |b| b.last_seen_interval(MIN));
    let (t, id) = logged_in(&env).await;
    let loaded_expiry = stored(&env, &id).await.expires_at;
    env.clock.advance(29 * MIN);
    let slow_read = service.load(Some(&t)).await.unwrap();
    env.clock.advance(2 * MIN);
    let refresh = service.load(Some(&t)).await.unwrap();
    assert_eq!(
        service.persist(&refresh).await.unwrap().outcome,
        PersistOutcome::Refreshed
    );
    let refreshed = stored(&env, &id).await.expires_at;
    assert!(refreshed > loaded_expiry);

    env.store.clear();
    let p = service.persist(&slow_read).await.unwrap();
    assert_eq!(
        (p.outcome, p.cookie),
        (PersistOutcome::Seen, CookieAction::Keep)
    );
    assert!(
        env.store
            .writes()
            .iter()
            .all(|w| matches!(w, StoreOp::Save(..))),
        "{:?}",
        env.store.writes()
    );
    let stored = stored(&env, &id).await;
    assert_eq!(stored.expires_at, refreshed, "the refresh stands");
    assert_eq!(stored.last_seen, env.clock.now());
}

#[tokio::test]
async fn past_the_threshold_expiry_moves_to_now_plus_lifetime_and_the_cookie_follows() {
    let env = env();
    let (t, id) = logged_in(&env).await;
    env.clock.advance(31 * MIN);
    let cell = env.service.load(Some(&t)).await.unwrap();
    let p = env.service.persist(&cell).await.unwrap();
    let expected = env.clock.now().plus(60 * MIN);
    assert_eq!(p.outcome, PersistOutcome::Refreshed);
    assert!(
        matches!(&p.cookie, CookieAction::Set { expires_at, .. } if *expires_at == expected),
        "{:?}",
        p.cookie
    );
    // The store is told the user, to move the index entry with the record.
    assert_eq!(
        env.store.writes(),
        vec![StoreOp::Touch(id, expected, Some("u".to_owned()))]
    );
    assert_eq!(
        env.store
            .inner()
            .load(&id)
            .await
            .unwrap()
            .unwrap()
            .expires_at,
        expected
    );
}

#[tokio::test]
async fn a_refresh_due_rides_along_with_a_data_save() {
    let env = env();
    let (t, _) = logged_in(&env).await;
    env.clock.advance(31 * MIN);
    let mut s = env.service.get::<Profile>(Some(&t)).await.unwrap();
    set_age(&mut s, Some(3));
    let p = env.service.commit(&mut s).await.unwrap();
    assert_eq!(p.outcome, PersistOutcome::Saved { refreshed: true });
    let writes = env.store.writes();
    assert!(
        matches!(writes.as_slice(), [StoreOp::Save(_, patch)]
            if patch.expires_at == Some(env.clock.now().plus(60 * MIN))
                && patch.user_id.as_deref() == Some("u")),
        "{writes:?}"
    );
}

#[tokio::test]
async fn a_data_save_without_a_refresh_names_no_user() {
    let env = env();
    let (t, _) = logged_in(&env).await;
    env.clock.advance(29 * MIN);
    let mut s = env.service.get::<Profile>(Some(&t)).await.unwrap();
    set_age(&mut s, Some(3));
    let p = env.service.commit(&mut s).await.unwrap();
    assert_eq!(p.outcome, PersistOutcome::Saved { refreshed: false });
    // The index entry only moves with the expiry: nothing for the store to do.
    let writes = env.store.writes();
    assert!(
        matches!(writes.as_slice(), [StoreOp::Save(_, patch)]
            if patch.expires_at.is_none() && patch.user_id.is_none()),
        "{writes:?}"
    );
}

#[tokio::test]
async fn a_fresh_anonymous_session_switches_to_full_lifetime_when_used_again() {
    let env = env();
    let mut s = env.service.get::<Profile>(None).await.unwrap();
    set_age(&mut s, Some(1));
    let first = env.service.commit(&mut s).await.unwrap();
    env.clock.advance(MIN);
    env.store.clear();
    let cell = env.service.load(Some(&token(&first))).await.unwrap();
    let p = env.service.persist(&cell).await.unwrap();
    assert_eq!(p.outcome, PersistOutcome::Refreshed);
    let expected = env.clock.now().plus(60 * MIN);
    // No user to name.
    assert_eq!(
        env.store.writes(),
        vec![StoreOp::Touch(first.id.unwrap(), expected, None)]
    );
    let record = env
        .store
        .inner()
        .load(&first.id.unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.expires_at, env.clock.now().plus(60 * MIN));
}

#[tokio::test]
async fn an_unused_fresh_session_expires_after_the_initial_lifetime() {
    let env = env();
    let mut s = env.service.get::<Profile>(None).await.unwrap();
    set_age(&mut s, Some(1));
    let first = env.service.commit(&mut s).await.unwrap();
    env.clock.advance(5 * MIN);
    assert!(
        !env.service
            .load(Some(&token(&first)))
            .await
            .unwrap()
            .lock()
            .is_loaded()
    );
}

#[tokio::test]
async fn the_absolute_limit_ends_an_active_session() {
    let mut p = policy();
    p.absolute = Some(90 * MIN);
    let env = env_with(p, SigningKeys::single(Key::new([1u8; 32]).unwrap()));
    let (t, _) = logged_in(&env).await;
    for _ in 0..2 {
        env.clock.advance(40 * MIN);
        let cell = env.service.load(Some(&t)).await.unwrap();
        assert!(cell.lock().is_loaded());
        env.service.persist(&cell).await.unwrap();
    }
    env.clock.advance(10 * MIN);
    assert!(!env.service.load(Some(&t)).await.unwrap().lock().is_loaded());
}

/// A release that shortens the lifetime (6 hours to the policy's 60
/// minutes, say) holds the sessions the release before gave a longer
/// expiry to it too, as it holds them to a new absolute limit: an idle one
/// ends 60 minutes after its last use, neither loading nor listed; one in
/// use is refreshed to the new lifetime, its stored expiry brought down.
#[tokio::test]
async fn a_shortened_lifetime_applies_to_sessions_stored_under_the_longer_one() {
    let env = env();
    let long = service_like(&env, |b| {
        b.expiry(ExpiryPolicy {
            lifetime: 360 * MIN,
            ..policy()
        })
    });
    let login = |service: session_core::SessionService| async move {
        let mut s = service.get::<Profile>(None).await.unwrap();
        s.login(session_core::Binding::user("u"));
        let p = service.commit(&mut s).await.unwrap();
        (token(&p), p.id.unwrap())
    };
    let (idle, idle_id) = login(long.clone()).await;
    let (used, used_id) = login(long).await;
    assert_eq!(
        stored(&env, &idle_id).await.expires_at,
        env.clock.now().plus(360 * MIN)
    );
    // The new release (the policy's 60 minutes) serves from here on.
    env.clock.advance(40 * MIN);
    let cell = env.service.load(Some(&used)).await.unwrap();
    assert!(cell.lock().is_loaded());
    let outcome = env.service.persist(&cell).await.unwrap().outcome;
    assert_eq!(outcome, PersistOutcome::Refreshed);
    assert_eq!(
        stored(&env, &used_id).await.expires_at,
        env.clock.now().plus(60 * MIN)
    );
    env.clock.advance(21 * MIN);
    assert!(
        !env.service
            .load(Some(&idle))
            .await
            .unwrap()
            .lock()
            .is_loaded()
    );
    assert_eq!(listed(&env.service, "u").await, vec![used_id]);
    assert!(
        env.service
            .load(Some(&used))
            .await
            .unwrap()
            .lock()
            .is_loaded()
    );
}

/// A session logged in under an old key, seen by a service that now signs
/// with a new key and still verifies the old one: its env, token and id.
async fn after_key_rotation() -> (crate::support::Env, String, session_core::SessionId) {
    after_key_rotation_from(policy()).await
}

/// [`after_key_rotation`], the session logged in under `old_policy`.
async fn after_key_rotation_from(
    old_policy: ExpiryPolicy,
) -> (crate::support::Env, String, session_core::SessionId) {
    let old_key = Key::new([9u8; 32]).unwrap();
    let old = env_with(old_policy, SigningKeys::single(old_key.clone()));
    let (t, id) = logged_in(&old).await;
    let rotated = crate::support::Env {
        service: session_core::SessionService::builder()
            .shared_store(old.service.store().clone())
            .key(Key::new([1u8; 32]).unwrap())
            .key(old_key)
            .token_context("sid")
            .expiry(policy())
            .clock(old.service.clock().clone())
            .build()
            .unwrap(),
        ..old
    };
    (rotated, t, id)
}

#[tokio::test]
async fn a_token_signed_by_an_older_key_loads_and_is_reissued_under_the_first() {
    let (rotated, t, id) = after_key_rotation().await;
    let cell = rotated.service.load(Some(&t)).await.unwrap();
    assert!(cell.lock().is_loaded());
    let p = rotated.service.persist(&cell).await.unwrap();
    let new_token = token(&p);
    assert_ne!(new_token, t);
    let verified = rotated.service.signer().verify_id(&new_token).unwrap();
    assert_eq!((verified.value, verified.key_index), (id, 0));
    // Re-signed only after the store confirmed the session: one save of
    // `last_seen` alone, no data, no expiry.
    let writes = rotated.store.writes();
    assert!(
        matches!(writes.as_slice(), [StoreOp::Save(saved, patch)]
            if *saved == id && !patch.changes_data() && patch.expires_at.is_none()),
        "{writes:?}"
    );

    // Gone meanwhile (a login elsewhere moved it): nothing re-issued.
    let cell = rotated.service.load(Some(&t)).await.unwrap();
    rotated.store.inner().delete(&id).await.unwrap();
    let p = rotated.service.persist(&cell).await.unwrap();
    assert_eq!(
        (p.outcome, p.cookie),
        (PersistOutcome::Vanished, CookieAction::Keep)
    );
}

/// A cookie re-signed under the new key for a session stored under a longer
/// lifetime (the release before's 6 hours, the policy's 60 minutes now).
/// A later request that writes data (no refresh due yet) moves the
/// session's last use, so the server keeps the session its lifetime after
/// that request, and sends no cookie: the cookie the browser holds must
/// last as long, or the user is logged out while the server still honours
/// the session. (It keeps the stored expiry, which may outlast the session:
/// a cookie the server no longer honours is cleared on its next request.)
#[tokio::test]
async fn a_reissued_cookie_lasts_as_long_as_the_session_after_a_later_write() {
    let (rotated, t, _) = after_key_rotation_from(ExpiryPolicy {
        lifetime: 360 * MIN,
        ..policy()
    })
    .await;
    rotated.clock.advance(5 * MIN);
    let cell = rotated.service.load(Some(&t)).await.unwrap();
    let p = rotated.service.persist(&cell).await.unwrap();
    let mut cookie = match &p.cookie {
        CookieAction::Set { expires_at, .. } => *expires_at,
        other => panic!("not re-issued: {other:?}"),
    };
    let t = token(&p);
    // 20 minutes on: 40 of the 60 minutes left, no refresh due.
    rotated.clock.advance(20 * MIN);
    let mut s = rotated.service.get::<Profile>(Some(&t)).await.unwrap();
    set_age(&mut s, Some(3));
    let p = rotated.service.commit(&mut s).await.unwrap();
    assert_eq!(p.outcome, PersistOutcome::Saved { refreshed: false });
    if let CookieAction::Set { expires_at, .. } = p.cookie {
        cookie = expires_at;
    }
    // The browser drops its cookie then; the server must not still hold
    // the session for it.
    rotated.clock.set(cookie);
    let cell = rotated.service.load(Some(&t)).await.unwrap();
    assert!(
        !cell.lock().is_loaded(),
        "the browser's cookie ended at {cookie:?}, the server still keeps the session"
    );
}

/// The old-key re-issue is re-signed "once the store confirms the session is
/// still there". A save that fails confirms nothing: the session may have
/// gone to a login in another request (deleted here), and re-signing its id
/// would put the dead id back over that login's cookie. Keeping the old-key
/// cookie (which still verifies) costs nothing.
#[tokio::test]
async fn an_old_key_reissue_is_not_made_when_the_store_cannot_confirm_the_session() {
    let (rotated, t, id) = after_key_rotation().await;
    let cell = rotated.service.load(Some(&t)).await.unwrap();
    assert!(cell.lock().is_loaded());
    // A login elsewhere moved the session, then the store hiccups.
    rotated.store.inner().delete(&id).await.unwrap();
    rotated.store.set_down(true);
    let p = rotated.service.persist(&cell).await.unwrap();
    rotated.store.set_down(false);
    assert_eq!(
        p.cookie,
        CookieAction::Keep,
        "the deleted session's id was re-issued without the store's confirmation ({:?})",
        p.outcome
    );
}

#[tokio::test]
async fn expiry_policy_is_validated_at_build() {
    let bad = ExpiryPolicy {
        refresh_threshold: 2.0,
        ..policy()
    };
    let err = session_core::SessionService::builder()
        .store(session_core::MemoryStore::new())
        .key(Key::generate())
        .expiry(bad)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("threshold"), "{err}");
}

#[tokio::test]
async fn a_rotation_keeps_the_sessions_age_so_the_absolute_limit_holds() {
    let mut p = policy();
    p.absolute = Some(90 * MIN);
    let env = env_with(p, SigningKeys::single(Key::new([1u8; 32]).unwrap()));
    let (t, old_id) = logged_in(&env).await;
    let created_at = stored(&env, &old_id).await.created_at;

    // In use: refreshed at 40 minutes (up to the limit), rotated at 80.
    env.clock.advance(40 * MIN);
    let cell = env.service.load(Some(&t)).await.unwrap();
    env.service.persist(&cell).await.unwrap();
    env.clock.advance(40 * MIN);
    let cell = env.service.load(Some(&t)).await.unwrap();
    cell.lock().rotate();
    let rotated = env.service.persist(&cell).await.unwrap();
    assert_eq!(rotated.outcome, PersistOutcome::Rotated);
    let new_id = rotated.id.unwrap();
    let record = stored(&env, &new_id).await;
    assert_eq!(
        record.created_at, created_at,
        "the session's age carries over"
    );

    env.clock.advance(15 * MIN);
    assert!(
        !env.service
            .load(Some(&token(&rotated)))
            .await
            .unwrap()
            .lock()
            .is_loaded(),
        "90 minutes after the login, the rotated session is over too"
    );
}

/// A service on `env`'s store whose policy ends sessions `limit` after
/// creation: an app restarted with a stricter setting, say.
fn with_absolute_limit(
    env: &crate::support::Env,
    limit: std::time::Duration,
) -> session_core::SessionService {
    let mut strict_policy = policy();
    strict_policy.absolute = Some(limit);
    service_like(env, |b| b.expiry(strict_policy))
}

#[tokio::test]
async fn a_record_the_store_still_holds_past_the_policys_limit_is_removed_on_load() {
    let env = env();
    let (t, id) = logged_in(&env).await;
    // The record's own expiry, and so the store's, is later than the limit.
    let strict = with_absolute_limit(&env, 30 * MIN);
    env.clock.advance(40 * MIN);
    assert!(env.store.inner().load(&id).await.unwrap().is_some());
    assert!(!strict.load(Some(&t)).await.unwrap().lock().is_loaded());
    assert_eq!(
        env.store.inner().load(&id).await.unwrap(),
        None,
        "removed by the service"
    );
}

#[tokio::test]
async fn listings_leave_out_sessions_past_the_policys_limit() {
    let env = env();
    let (_, old) = logged_in(&env).await;
    env.clock.advance(40 * MIN);
    let (_, young) = logged_in(&env).await;
    let strict = with_absolute_limit(&env, 30 * MIN);
    // The store still holds both; only the young one could load.
    assert_eq!(env.service.list_for_user("u").await.unwrap().len(), 2);
    assert_eq!(listed(&strict, "u").await, [young]);
    let page = strict
        .list(session_core::PageRequest::first(100))
        .await
        .unwrap();
    assert!(page.items.iter().all(|i| i.id != old));
    assert!(page.items.iter().any(|i| i.id == young));
    assert_eq!(strict.record(&old).await.unwrap(), None);
}

/// An unchanged policy ends no session sooner than the expiry it gave it:
/// with an `initial_lifetime` longer than `lifetime`, a fresh anonymous
/// session written again on a later request keeps its initial expiry (the
/// switch to `lifetime` would shorten it), though its last use moved.
#[tokio::test]
async fn an_unchanged_policy_keeps_a_written_fresh_sessions_longer_initial_expiry() {
    let env = env();
    let service = service_like(&env, |b| {
        b.expiry(ExpiryPolicy {
            initial_lifetime: 60 * MIN,
            lifetime: 30 * MIN,
            ..policy()
        })
    });
    let cell = service.load(None).await.unwrap();
    cell.lock().set_field("cart", "1");
    let t = token(&service.persist(&cell).await.unwrap());
    env.clock.advance(MIN);
    let cell = service.load(Some(&t)).await.unwrap();
    cell.lock().set_field("cart", "2");
    service.persist(&cell).await.unwrap();
    env.clock.advance(39 * MIN);
    // Stored expiry: 60 minutes after creation, 20 minutes from now.
    let cell = service.load(Some(&t)).await.unwrap();
    assert!(
        cell.lock().is_loaded(),
        "ended 40 minutes into a 60-minute expiry"
    );
}

/// A listing's `expires_at` ("when it expires unless used again") under a
/// shortened lifetime: the lifetime after its last use, not the later
/// expiry the release before stored.
#[tokio::test]
async fn a_listing_shows_when_a_session_ends_under_a_shortened_lifetime() {
    let env = env();
    let long = service_like(&env, |b| {
        b.expiry(ExpiryPolicy {
            lifetime: 360 * MIN,
            ..policy()
        })
    });
    let mut s = long.get::<Profile>(None).await.unwrap();
    s.login(session_core::Binding::user("u"));
    long.commit(&mut s).await.unwrap();
    let logged_in_at = env.clock.now();
    env.clock.advance(10 * MIN);
    let listed = env.service.list_with_handles("u", None).await.unwrap();
    assert_eq!(listed.len(), 1);
    // It ends 60 minutes after its last use, unless used again.
    assert_eq!(listed[0].expires_at, logged_in_at.plus(60 * MIN));
}
