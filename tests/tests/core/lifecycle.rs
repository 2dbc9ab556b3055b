use session_core::Clock as _;
use session_core::conformance::StoreOp;
use session_core::{
    CookieAction, InvalidDataPolicy, PersistOutcome, SessionError, SessionStore, TokenStatus,
};

use crate::support::{MIN, env, service_like, token};
use session_tests::profile::{Profile, set_age, set_name};

#[tokio::test]
async fn a_request_without_token_that_only_reads_creates_nothing() {
    let env = env();
    let session = env.service.get::<Profile>(None).await.unwrap();
    assert_eq!(session.age, None);
    assert!(session.session_id().is_none());
    let persisted = env.service.persist(session.cell()).await.unwrap();
    assert_eq!(persisted.outcome, PersistOutcome::Unchanged);
    assert_eq!(persisted.cookie, CookieAction::Keep);
    assert!(
        env.store.ops().is_empty(),
        "no store call at all: {:?}",
        env.store.ops()
    );
}

#[tokio::test]
async fn first_write_creates_the_session_and_sets_the_cookie() {
    let env = env();
    let mut session = env.service.get::<Profile>(None).await.unwrap();
    set_age(&mut session, Some(20));
    let persisted = env.service.commit(&mut session).await.unwrap();
    assert_eq!(persisted.outcome, PersistOutcome::Created);
    let id = persisted.id.unwrap();
    let writes = env.store.writes();
    assert_eq!(writes.len(), 1);
    let StoreOp::Create(record) = &writes[0] else {
        panic!("{writes:?}")
    };
    assert_eq!(record.id, id);
    // Only the changed field is stored; the rest read back as defaults.
    assert_eq!(record.fields.iter().collect::<Vec<_>>(), [("age", "20")]);
    assert_eq!(
        env.service.session_id_from_token(&token(&persisted)),
        Some(id)
    );
}

#[tokio::test]
async fn a_read_only_request_on_an_existing_session_writes_nothing() {
    let env = env();
    let mut s = env.service.get::<Profile>(None).await.unwrap();
    set_age(&mut s, Some(20));
    let t = token(&env.service.commit(&mut s).await.unwrap());
    env.store.clear();

    let s = env.service.get::<Profile>(Some(&t)).await.unwrap();
    assert_eq!(s.age, Some(20));
    let persisted = env.service.persist(s.cell()).await.unwrap();
    assert_eq!(persisted.outcome, PersistOutcome::Unchanged);
    assert_eq!(persisted.cookie, CookieAction::Keep);
    assert_eq!(
        env.store.ops().len(),
        1,
        "exactly one store round trip (the load)"
    );
    assert!(env.store.writes().is_empty());
}

#[tokio::test]
async fn a_change_saves_only_the_changed_field() {
    let env = env();
    let mut s = env.service.get::<Profile>(None).await.unwrap();
    set_age(&mut s, Some(20));
    set_name(&mut s, Some("Roger".into()));
    let t = token(&env.service.commit(&mut s).await.unwrap());
    env.store.clear();

    let mut s = env.service.get::<Profile>(Some(&t)).await.unwrap();
    set_age(&mut s, Some(21));
    set_name(&mut s, Some("Roger".into()));
    let persisted = env.service.commit(&mut s).await.unwrap();
    assert_eq!(
        persisted.outcome,
        PersistOutcome::Saved { refreshed: false }
    );
    let writes = env.store.writes();
    let [StoreOp::Save(_, patch)] = writes.as_slice() else {
        panic!("{writes:?}")
    };
    assert_eq!(patch.set_fields.iter().collect::<Vec<_>>(), [("age", "21")]);
    assert!(patch.removed_fields.is_empty());
    let stored = env
        .store
        .inner()
        .load(&persisted.id.unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.fields.get("name"), Some("\"Roger\""));
}

#[tokio::test]
async fn garbage_and_tampered_tokens_mean_no_session_and_clear_the_cookie() {
    let env = env();
    let mut s = env.service.get::<Profile>(None).await.unwrap();
    set_age(&mut s, Some(1));
    let valid = token(&env.service.commit(&mut s).await.unwrap());
    let mut tampered = valid.clone().into_bytes();
    tampered[3] = if tampered[3] == b'x' { b'y' } else { b'x' };
    let tampered = String::from_utf8(tampered).unwrap();
    for bad in ["", "garbage", "a.b.c", &valid[..valid.len() - 2], &tampered] {
        let cell = env.service.load(Some(bad)).await.unwrap();
        assert_eq!(cell.lock().token_status(), TokenStatus::Rejected, "{bad:?}");
        assert!(!cell.lock().is_loaded());
        let persisted = env.service.persist(&cell).await.unwrap();
        assert_eq!(persisted.cookie, CookieAction::Clear, "{bad:?}");
    }
}

/// A valid token of a session that is gone (here: never stored) means no
/// session, and its cookie is left alone: the session may have moved to a
/// login whose cookie a clearing response would delete.
#[tokio::test]
async fn a_valid_token_of_a_gone_session_means_no_session_and_keeps_the_cookie() {
    let env = env();
    let unknown = env.service.token_for(&session_core::SessionId::generate());
    let cell = env.service.load(Some(&unknown)).await.unwrap();
    assert_eq!(cell.lock().token_status(), TokenStatus::Gone);
    assert!(!cell.lock().is_loaded());
    env.store.clear();
    let persisted = env.service.persist(&cell).await.unwrap();
    assert_eq!(persisted.cookie, CookieAction::Keep);
    assert!(env.store.ops().is_empty(), "{:?}", env.store.ops());
}

#[tokio::test]
async fn a_bad_token_with_a_write_gets_a_fresh_session() {
    let env = env();
    let mut s = env
        .service
        .get::<Profile>(Some("forged.token"))
        .await
        .unwrap();
    set_age(&mut s, Some(3));
    let persisted = env.service.commit(&mut s).await.unwrap();
    assert_eq!(persisted.outcome, PersistOutcome::Created);
    assert!(matches!(persisted.cookie, CookieAction::Set { .. }));
}

#[tokio::test]
async fn destroy_deletes_the_record_and_the_token_never_loads_again() {
    let env = env();
    let mut s = env.service.get::<Profile>(None).await.unwrap();
    set_age(&mut s, Some(5));
    let persisted = env.service.commit(&mut s).await.unwrap();
    let (t, id) = (token(&persisted), persisted.id.unwrap());

    let mut s = env.service.get::<Profile>(Some(&t)).await.unwrap();
    s.destroy();
    let persisted = env.service.commit(&mut s).await.unwrap();
    assert_eq!(persisted.outcome, PersistOutcome::Destroyed);
    assert_eq!(persisted.cookie, CookieAction::Clear);
    assert_eq!(
        env.store.inner().load(&id).await.unwrap(),
        None,
        "record deleted server-side"
    );
    let again = env.service.load(Some(&t)).await.unwrap();
    assert!(!again.lock().is_loaded());
}

#[tokio::test]
async fn a_session_revoked_before_persist_is_not_resurrected() {
    let env = env();
    let mut s = env.service.get::<Profile>(None).await.unwrap();
    set_age(&mut s, Some(5));
    let persisted = env.service.commit(&mut s).await.unwrap();
    let (t, id) = (token(&persisted), persisted.id.unwrap());

    let mut s = env.service.get::<Profile>(Some(&t)).await.unwrap();
    env.service.destroy_session(&id).await.unwrap();
    set_age(&mut s, Some(6));
    let persisted = env.service.commit(&mut s).await.unwrap();
    assert_eq!(persisted.outcome, PersistOutcome::Vanished);
    assert_eq!(
        persisted.cookie,
        CookieAction::Keep,
        "a login elsewhere may own the cookie now"
    );
    assert_eq!(env.store.inner().load(&id).await.unwrap(), None);
}

#[tokio::test]
async fn persist_runs_once() {
    let env = env();
    let mut s = env.service.get::<Profile>(None).await.unwrap();
    set_age(&mut s, Some(5));
    env.service.commit(&mut s).await.unwrap();
    let again = env.service.persist(s.cell()).await.unwrap();
    assert_eq!(again.outcome, PersistOutcome::Unchanged);
    assert_eq!(env.store.writes().len(), 1);
}

#[tokio::test]
async fn a_store_outage_is_an_unavailable_error() {
    let env = env();
    let mut s = env.service.get::<Profile>(None).await.unwrap();
    set_age(&mut s, Some(5));
    env.store.set_down(true);
    let err = env.service.commit(&mut s).await.unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    let err = env
        .service
        .load(Some(
            &env.service.token_for(&session_core::SessionId::generate()),
        ))
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
}

#[tokio::test]
async fn stale_compare_and_set_is_a_conflict() {
    let env = env();
    let mut s = env.service.get::<Profile>(None).await.unwrap();
    set_age(&mut s, Some(5));
    let t = token(&env.service.commit(&mut s).await.unwrap());

    let mut first = env.service.get::<Profile>(Some(&t)).await.unwrap();
    let mut second = env.service.get::<Profile>(Some(&t)).await.unwrap();
    second.require_unchanged_revision();
    set_age(&mut first, Some(6));
    env.service.commit(&mut first).await.unwrap();
    set_age(&mut second, Some(7));
    let err = env.service.commit(&mut second).await.unwrap_err();
    assert!(
        matches!(err, SessionError::Conflict { current: 1 }),
        "{err:?}"
    );
}

#[tokio::test]
async fn compare_and_set_on_a_store_without_it_is_unsupported_not_a_blind_write() {
    let env = env();
    let service = service_like(&env, |b| b.store(session_core::CookieStore::encrypted()));
    let mut s = service.get::<Profile>(None).await.unwrap();
    set_age(&mut s, Some(5));
    let t = token(&service.commit(&mut s).await.unwrap());

    let mut plain = service.get::<Profile>(Some(&t)).await.unwrap();
    set_age(&mut plain, Some(6));
    assert!(matches!(
        service.commit(&mut plain).await.unwrap().cookie,
        CookieAction::Set { .. }
    ));

    let mut checked = service.get::<Profile>(Some(&t)).await.unwrap();
    checked.require_unchanged_revision();
    set_age(&mut checked, Some(7));
    let err = service.commit(&mut checked).await.unwrap_err();
    assert!(
        matches!(
            err,
            SessionError::Store(session_core::StoreError::Unsupported { .. })
        ),
        "{err:?}"
    );

    // Unchanged, nothing is written: no comparison to make.
    let mut idle = service.get::<Profile>(Some(&t)).await.unwrap();
    idle.require_unchanged_revision();
    assert_eq!(
        service.commit(&mut idle).await.unwrap().cookie,
        CookieAction::Keep
    );
}

#[tokio::test]
async fn concurrent_requests_changing_different_fields_both_survive() {
    let env = env();
    let mut s = env.service.get::<Profile>(None).await.unwrap();
    set_age(&mut s, Some(5));
    let persisted = env.service.commit(&mut s).await.unwrap();
    let t = token(&persisted);

    let mut a = env.service.get::<Profile>(Some(&t)).await.unwrap();
    let mut b = env.service.get::<Profile>(Some(&t)).await.unwrap();
    set_age(&mut a, Some(30));
    set_name(&mut b, Some("Ada".into()));
    env.service.commit(&mut a).await.unwrap();
    env.service.commit(&mut b).await.unwrap();
    let back = env.service.get::<Profile>(Some(&t)).await.unwrap();
    assert_eq!((back.age, back.name.as_deref()), (Some(30), Some("Ada")));
}

#[tokio::test]
async fn invalid_stored_data_is_discarded_by_default_and_never_overwritten() {
    let env = env();
    let mut s = env.service.get::<Profile>(None).await.unwrap();
    set_age(&mut s, Some(5));
    let persisted = env.service.commit(&mut s).await.unwrap();
    let (t, id) = (token(&persisted), persisted.id.unwrap());
    store_invalid_age(&env, &id).await;
    env.store.clear();

    // Read-only request: defaults, nothing written.
    let s = env.service.get::<Profile>(Some(&t)).await.unwrap();
    assert_eq!(s.age, None);
    assert!(env.service.persist(s.cell()).await.unwrap().cookie == CookieAction::Keep);
    assert!(env.store.writes().is_empty());

    // Writing request: a new session; the invalid record stays as it was.
    let mut s = env.service.get::<Profile>(Some(&t)).await.unwrap();
    set_name(&mut s, Some("x".into()));
    let persisted = env.service.commit(&mut s).await.unwrap();
    assert_eq!(persisted.outcome, PersistOutcome::Created);
    assert_ne!(persisted.id, Some(id));
    let old = env.store.inner().load(&id).await.unwrap().unwrap();
    assert_eq!(old.fields.get("age"), Some("999"));
}

/// A bound session whose stored data no longer decodes, and its token.
async fn bound_with_invalid_data(env: &crate::support::Env) -> (String, session_core::SessionId) {
    let mut s = env.service.get::<Profile>(None).await.unwrap();
    s.login(session_core::Binding::user("u"));
    let persisted = env.service.commit(&mut s).await.unwrap();
    let (t, id) = (token(&persisted), persisted.id.unwrap());
    store_invalid_age(env, &id).await;
    (t, id)
}

/// Stores an `age` that fails validation, behind the service's back.
async fn store_invalid_age(env: &crate::support::Env, id: &session_core::SessionId) {
    let mut patch = session_core::SessionPatch {
        last_seen: env.clock.now(),
        ..Default::default()
    };
    patch.set_fields.insert("age", "999");
    env.store.inner().save(id, &patch).await.unwrap();
}

#[tokio::test]
async fn destroying_a_session_with_invalid_data_deletes_its_record() {
    let env = env();
    let (t, id) = bound_with_invalid_data(&env).await;
    let mut s = env.service.get::<Profile>(Some(&t)).await.unwrap();
    assert!(!s.cell().lock().is_loaded(), "the data was discarded");
    s.destroy();
    let persisted = env.service.commit(&mut s).await.unwrap();
    assert_eq!(persisted.outcome, PersistOutcome::Destroyed);
    assert_eq!(env.store.inner().load(&id).await.unwrap(), None);
    assert!(env.service.list_for_user("u").await.unwrap().is_empty());
}

#[tokio::test]
async fn a_login_over_invalid_data_deletes_the_old_record() {
    let env = env();
    let (t, id) = bound_with_invalid_data(&env).await;
    let mut s = env.service.get::<Profile>(Some(&t)).await.unwrap();
    s.login(session_core::Binding::user("u"));
    let persisted = env.service.commit(&mut s).await.unwrap();
    assert_eq!(persisted.outcome, PersistOutcome::Rotated);
    assert_eq!(env.store.inner().load(&id).await.unwrap(), None);
    let back = env
        .service
        .get::<Profile>(Some(&token(&persisted)))
        .await
        .unwrap();
    assert_eq!(back.age, None, "the invalid data did not carry over");
    assert_eq!(env.service.list_for_user("u").await.unwrap().len(), 1);
}

#[tokio::test]
async fn invalid_stored_data_fails_when_configured() {
    let env = env();
    let service = service_like(&env, |b| b.invalid_data(InvalidDataPolicy::Fail));
    let mut s = service.get::<Profile>(None).await.unwrap();
    set_age(&mut s, Some(5));
    let persisted = service.commit(&mut s).await.unwrap();
    let mut patch = session_core::SessionPatch {
        last_seen: env.clock.now(),
        ..Default::default()
    };
    patch.set_fields.insert("tags", "\"not a list\"");
    env.store
        .inner()
        .save(&persisted.id.unwrap(), &patch)
        .await
        .unwrap();
    let err = service
        .get::<Profile>(Some(&token(&persisted)))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SessionError::Data(session_core::SessionDataError::InvalidField { field, .. }) if field == "tags"),
        "{err:?}"
    );
}

#[tokio::test]
async fn expired_session_found_on_load_is_absent_and_removed() {
    let env = env();
    let mut s = env.service.get::<Profile>(None).await.unwrap();
    set_age(&mut s, Some(5));
    let persisted = env.service.commit(&mut s).await.unwrap();
    env.clock.advance(5 * MIN);
    let cell = env.service.load(Some(&token(&persisted))).await.unwrap();
    assert!(!cell.lock().is_loaded());
    assert_eq!(cell.lock().token_status(), TokenStatus::Gone);
    assert_eq!(
        env.service.persist(&cell).await.unwrap().cookie,
        CookieAction::Keep
    );
    assert!(env.store.inner().is_empty(), "expired record removed");
}

/// A service on `env`'s store that checks stored data as `Profile` at load.
fn checking(env: &crate::support::Env, policy: InvalidDataPolicy) -> session_core::SessionService {
    service_like(env, |b| b.invalid_data(policy).check_data::<Profile>())
}

#[tokio::test]
async fn checked_at_load_invalid_data_means_no_session_binding_included() {
    let env = env();
    let (t, id) = bound_with_invalid_data(&env).await;
    // Unchecked, the binding stays in use until a read of the data.
    let cell = env.service.load(Some(&t)).await.unwrap();
    assert_eq!(
        cell.lock().binding().map(|b| b.user_id.clone()),
        Some("u".into())
    );

    let service = checking(&env, InvalidDataPolicy::Discard);
    let cell = service.load(Some(&t)).await.unwrap();
    {
        let state = cell.lock();
        assert!(!state.is_loaded());
        assert!(state.binding().is_none(), "no user either");
        assert_eq!(state.stored_id(), Some(id));
    }
    // A type that reads other fields only still sees no session.
    let s = service
        .typed::<session_tests::profile::Counters>(&cell)
        .unwrap();
    assert_eq!(s.session_id(), None);
    env.store.clear();
    assert!(service.persist(&cell).await.unwrap().cookie == CookieAction::Keep);
    assert!(env.store.writes().is_empty(), "never written back");
    let old = env.store.inner().load(&id).await.unwrap().unwrap();
    assert_eq!(old.fields.get("age"), Some("999"));

    // Valid data passes the check untouched.
    let mut s = service.get::<Profile>(None).await.unwrap();
    set_age(&mut s, Some(40));
    let valid = token(&service.commit(&mut s).await.unwrap());
    assert_eq!(
        service.get::<Profile>(Some(&valid)).await.unwrap().age,
        Some(40)
    );
}

/// Under `InvalidDataPolicy::Fail`, the refusal is about the stored data:
/// once a logout deleted it, the request's new data (a "signed out" notice
/// set after the logout) is readable and writable as a new session's.
#[tokio::test]
async fn after_a_logout_of_refused_data_the_request_writes_a_new_session() {
    let env = env();
    let (t, id) = bound_with_invalid_data(&env).await;
    let service = checking(&env, InvalidDataPolicy::Fail);
    let cell = service.load(Some(&t)).await.unwrap();
    assert!(service.typed::<Profile>(&cell).is_err(), "refused before");
    cell.lock().destroy();
    let mut after = service
        .typed::<Profile>(&cell)
        .expect("the refused data is gone with the logout");
    assert_eq!(after.age, None);
    after.flash("notice", "signed out").unwrap();
    drop(after);
    let persisted = service.persist(&cell).await.unwrap();
    assert_eq!(persisted.outcome, PersistOutcome::Destroyed);
    assert_eq!(env.store.inner().load(&id).await.unwrap(), None);
    let mut next = service
        .get::<Profile>(Some(&token(&persisted)))
        .await
        .unwrap();
    assert_eq!(
        next.take_flash::<String>("notice").as_deref(),
        Some("signed out")
    );
}

#[tokio::test]
async fn checked_at_load_invalid_data_fails_reads_when_configured_and_logout_still_works() {
    let env = env();
    let (t, id) = bound_with_invalid_data(&env).await;
    let service = checking(&env, InvalidDataPolicy::Fail);
    let cell = service.load(Some(&t)).await.unwrap();
    assert!(cell.lock().binding().is_none());
    // Any type: the session's data as a whole was refused.
    let err = service
        .typed::<session_tests::profile::Counters>(&cell)
        .unwrap_err();
    assert!(matches!(err, SessionError::Data(_)), "{err:?}");
    cell.lock().destroy();
    let persisted = service.persist(&cell).await.unwrap();
    assert_eq!(persisted.outcome, PersistOutcome::Destroyed);
    assert_eq!(env.store.inner().load(&id).await.unwrap(), None);
}

#[tokio::test]
async fn rotating_without_a_stored_session_changes_nothing() {
    let env = env();
    let cell = env.service.load(None).await.unwrap();
    assert_eq!(cell.lock().rotate(), None);
    let persisted = env.service.persist(&cell).await.unwrap();
    assert_eq!(persisted.outcome, PersistOutcome::Unchanged);
    assert!(env.store.writes().is_empty(), "{:?}", env.store.writes());
    // Nor after a logout in the same request.
    let mut s = env.service.get::<Profile>(None).await.unwrap();
    set_age(&mut s, Some(3));
    let persisted = env.service.commit(&mut s).await.unwrap();
    let (t, id) = (token(&persisted), persisted.id.unwrap());
    let cell = env.service.load(Some(&t)).await.unwrap();
    cell.lock().destroy();
    assert_eq!(cell.lock().rotate(), None);
    assert_eq!(
        env.service.persist(&cell).await.unwrap().outcome,
        PersistOutcome::Destroyed
    );
    assert_eq!(env.store.inner().load(&id).await.unwrap(), None);
}

#[tokio::test]
async fn a_compare_and_set_rotation_after_another_write_is_a_conflict() {
    let env = env();
    let mut s = env.service.get::<Profile>(None).await.unwrap();
    set_age(&mut s, Some(5));
    let persisted = env.service.commit(&mut s).await.unwrap();
    let (t, id) = (token(&persisted), persisted.id.unwrap());

    let mut first = env.service.get::<Profile>(Some(&t)).await.unwrap();
    let mut second = env.service.get::<Profile>(Some(&t)).await.unwrap();
    set_age(&mut first, Some(6));
    env.service.commit(&mut first).await.unwrap();
    second.require_unchanged_revision();
    assert!(second.rotate().is_some());
    set_age(&mut second, Some(7));
    let err = env.service.commit(&mut second).await.unwrap_err();
    assert!(matches!(err, SessionError::Conflict { .. }), "{err:?}");
    // Nothing moved: the other request's change stands under the old id.
    let stored = env.store.inner().load(&id).await.unwrap().unwrap();
    assert_eq!(stored.fields.get("age"), Some("6"));
    assert_eq!(
        env.service
            .list(session_core::PageRequest::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
}

/// Several tokens of the session name: the first names a gone session, so
/// the later ones are tried, but only a few: each costs a store lookup, two
/// for a gone one (its record, and the marker a move would have left).
#[tokio::test]
async fn tokens_after_a_gone_one_are_tried_but_only_a_few() {
    let env = env();
    let mut s = env.service.get::<Profile>(None).await.unwrap();
    set_age(&mut s, Some(3));
    let live = token(&env.service.commit(&mut s).await.unwrap());
    let gone: Vec<String> = (0..10)
        .map(|_| env.service.token_for(&session_core::SessionId::generate()))
        .collect();

    env.store.clear();
    let cell = env
        .service
        .load_first([gone[0].as_str(), &live])
        .await
        .unwrap();
    assert!(
        cell.lock().is_loaded(),
        "the live session behind a gone one"
    );
    assert_eq!(env.store.ops().len(), 3, "{:?}", env.store.ops());

    env.store.clear();
    let many = gone.iter().map(String::as_str).chain([live.as_str()]);
    let cell = env.service.load_first(many).await.unwrap();
    assert!(!cell.lock().is_loaded());
    assert_eq!(cell.lock().token_status(), TokenStatus::Gone);
    assert_eq!(env.store.ops().len(), 8, "{:?}", env.store.ops());
}

/// The cookie store's documented limit is the cookie's: browsers drop a
/// cookie whose name and value together pass 4096 bytes (RFC 6265bis 5.6).
/// A framework-agnostic caller gets a sealed session it can only set as
/// `sid=<token>`, so a token that fits 4096 bytes alone but not beside the
/// cookie name (the signer's context) must be refused with `TooLarge`, not
/// handed out for the browser to discard, losing the write.
#[tokio::test]
async fn the_cookie_store_refuses_a_session_whose_name_and_value_pass_4096_bytes() {
    use session_core::StoreError;
    use session_core::store::cookie::MAX_COOKIE_BYTES;
    let env = env();
    let service = service_like(&env, |b| b.store(session_core::CookieStore::signed()));
    let name = service.signer().context().len();
    assert_eq!(name, "sid".len());
    // Grows the session a byte at a time until the store refuses it.
    for n in 2700..3200 {
        let mut s = service.get::<Profile>(None).await.unwrap();
        set_name(&mut s, Some("x".repeat(n)));
        match service.commit(&mut s).await {
            Ok(persisted) => {
                let value = token(&persisted).len();
                assert!(
                    name + value <= MAX_COOKIE_BYTES,
                    "a {value}-byte sealed session was handed out for cookie `sid`: \
                     name and value are {} bytes, over the {MAX_COOKIE_BYTES} browsers keep",
                    name + value
                );
            }
            Err(SessionError::Store(StoreError::TooLarge { size, limit })) => {
                assert_eq!(limit, MAX_COOKIE_BYTES);
                assert!(size + name > limit, "{size}");
                return;
            }
            Err(other) => panic!("{other:?}"),
        }
    }
    panic!("never refused");
}

/// On session-core alone: with the cookie store, a logout's persist hands
/// out the ended-sessions cookie, and a later load that comes back with the
/// logged-out session and that cookie finds no session (the cookie is
/// cleared), also once the session would have been refreshed by a request
/// in flight at the logout. A rotation that keeps the user records nothing.
/// A server-side store hands out none, and the check does nothing.
#[tokio::test]
async fn a_cookie_session_a_logout_ended_is_refused_when_it_comes_back() {
    let env = env();
    let service = service_like(&env, |b| b.store(session_core::CookieStore::encrypted()));
    let cell = service.load(None).await.unwrap();
    cell.lock().login(session_core::Binding::user("ada"));
    let t = token(&service.persist(&cell).await.unwrap());

    let cell = service.load(Some(&t)).await.unwrap();
    assert!(cell.lock().rotate().is_some());
    let rotated = service.persist(&cell).await.unwrap();
    assert_eq!(rotated.ended, CookieAction::Keep, "the same user stays");
    let t = token(&rotated);

    // A request in flight at the logout, due for a refresh: its copy lives
    // a full lifetime from now.
    env.clock.advance(40 * MIN);
    let in_flight = service.load(Some(&t)).await.unwrap();
    assert!(in_flight.lock().is_loaded());
    let cell = service.load(Some(&t)).await.unwrap();
    cell.lock().destroy();
    let persisted = service.persist(&cell).await.unwrap();
    assert_eq!(persisted.cookie, CookieAction::Clear);
    let CookieAction::Set { token: ended, .. } = persisted.ended else {
        panic!("no ended-sessions cookie: {persisted:?}");
    };
    let late = token(&service.persist(&in_flight).await.unwrap());

    for copy in [&t, &late] {
        let cell = service.load(Some(copy)).await.unwrap();
        assert!(
            cell.lock().is_loaded(),
            "without the cookie: a copy still loads"
        );
        service.check_ended(&cell, [ended.as_str()]);
        assert!(!cell.lock().is_loaded());
        assert_eq!(cell.lock().token_status(), TokenStatus::Rejected);
        assert_eq!(
            service.persist(&cell).await.unwrap().cookie,
            CookieAction::Clear
        );
    }
    // Near the end of the refreshed copy's life, still refused.
    env.clock.advance(55 * MIN);
    let cell = service.load(Some(&late)).await.unwrap();
    assert!(cell.lock().is_loaded(), "the refreshed copy is alive");
    service.check_ended(&cell, [ended.as_str()]);
    assert!(!cell.lock().is_loaded(), "and refused");

    // A value that does not verify is no list; a valid one among others
    // still counts.
    let cell = service.load(Some(&late)).await.unwrap();
    service.check_ended(&cell, [format!("{ended}x").as_str()]);
    assert!(cell.lock().is_loaded());
    service.check_ended(&cell, ["garbage", ended.as_str()]);
    assert!(!cell.lock().is_loaded());

    // Server-side: nothing to hand out, nothing refused.
    let cell = env.service.load(None).await.unwrap();
    cell.lock().login(session_core::Binding::user("ada"));
    let t = token(&env.service.persist(&cell).await.unwrap());
    let cell = env.service.load(Some(&t)).await.unwrap();
    env.service.check_ended(&cell, [ended.as_str()]);
    assert!(cell.lock().is_loaded());
    cell.lock().destroy();
    assert_eq!(
        env.service.persist(&cell).await.unwrap().ended,
        CookieAction::Keep
    );
}

/// Which requests record the session they end, with the cookie store: a
/// logout, also one a same-user login follows in the request, and a login
/// as another user; not a login as the same user. An entry lasts as long as
/// a copy refreshed by a request that loaded before the logout answered.
#[tokio::test]
async fn a_cookie_session_is_recorded_as_ended_by_a_logout_or_a_change_of_user() {
    let env = env();
    let service = service_like(&env, |b| b.store(session_core::CookieStore::signed()));
    let logged_in = |user: &'static str| {
        let service = service.clone();
        async move {
            let cell = service.load(None).await.unwrap();
            cell.lock().login(session_core::Binding::user(user));
            token(&service.persist(&cell).await.unwrap())
        }
    };
    let ended_by = |t: String, then: fn(&session_core::SessionCell)| {
        let service = service.clone();
        async move {
            let cell = service.load(Some(&t)).await.unwrap();
            then(&cell);
            service.persist(&cell).await.unwrap().ended
        }
    };
    let same_user: fn(&session_core::SessionCell) = |cell| {
        cell.lock().login(session_core::Binding::user("ada"));
    };
    let other_user: fn(&session_core::SessionCell) = |cell| {
        cell.lock().login(session_core::Binding::user("grace"));
    };
    let logout_then_same_user: fn(&session_core::SessionCell) = |cell| {
        cell.lock().destroy();
        cell.lock().login(session_core::Binding::user("ada"));
    };
    let t = logged_in("ada").await;
    assert_eq!(ended_by(t, same_user).await, CookieAction::Keep);
    for then in [other_user, logout_then_same_user] {
        let t = logged_in("ada").await;
        assert!(matches!(ended_by(t, then).await, CookieAction::Set { .. }));
    }

    // The logout's handler runs two minutes; a request that loaded in
    // between refreshes its copy to a full lifetime from then.
    let t = logged_in("ada").await;
    env.clock.advance(40 * MIN);
    let logout = service.load(Some(&t)).await.unwrap();
    logout.lock().destroy();
    env.clock.advance(2 * MIN);
    let in_flight = service.load(Some(&t)).await.unwrap();
    let CookieAction::Set { token: ended, .. } = service.persist(&logout).await.unwrap().ended
    else {
        panic!("nothing recorded");
    };
    let late = token(&service.persist(&in_flight).await.unwrap());
    env.clock
        .advance(59 * MIN + std::time::Duration::from_secs(30));
    let cell = service.load(Some(&late)).await.unwrap();
    assert!(cell.lock().is_loaded(), "the refreshed copy is alive");
    service.check_ended(&cell, [ended.as_str()]);
    assert!(!cell.lock().is_loaded(), "and refused");
}
