use session_core::Clock as _;
use session_core::conformance::StoreOp;
use session_core::{Binding, PersistOutcome, Persisted, Session, SessionStore};

use crate::support::{Env, MIN, env, token};
use session_tests::profile::{Profile, set_age};

#[tokio::test]
async fn login_moves_to_a_new_id_carrying_data_and_flash_and_deletes_the_old() {
    let env = env();
    let mut s = env.service.get::<Profile>(None).await.unwrap();
    set_age(&mut s, Some(20));
    s.flash("notice", "hello").unwrap();
    let before = env.service.commit(&mut s).await.unwrap();
    let (old_token, old_id) = (token(&before), before.id.unwrap());
    env.store.clear();

    let mut s = env.service.get::<Profile>(Some(&old_token)).await.unwrap();
    let new_id = s.login(
        Binding::user("roger")
            .with_label("phone")
            .with_meta(serde_json::json!({"ip": "::1"})),
    );
    assert_ne!(new_id, old_id);
    assert_eq!(s.session_id(), Some(new_id));
    assert_eq!(s.user_id().as_deref(), Some("roger"));
    let after = env.service.commit(&mut s).await.unwrap();
    assert_eq!(after.outcome, PersistOutcome::Rotated);
    assert_eq!(after.id, Some(new_id));

    // New record first, then the move's marker, then the old one closed at
    // the revision read and deleted.
    let writes = env.store.writes();
    assert!(
        matches!(writes.as_slice(), [StoreOp::Create(r), StoreOp::Create(marker), StoreOp::Save(closed, close), StoreOp::Delete(old)]
            if r.id == new_id && *old == old_id && *closed == old_id
                && close.expected_revision.is_some() && close.expires_at.is_some()
                && marker.id == old_id.moved_marker_id()
                && marker.is_moved_marker() && marker.fields.is_empty() && marker.binding.is_none()),
        "{writes:?}"
    );
    assert_eq!(env.store.inner().load(&old_id).await.unwrap(), None);
    assert!(
        !env.service
            .load(Some(&old_token))
            .await
            .unwrap()
            .lock()
            .is_loaded(),
        "old token loads nothing"
    );

    let mut s = reopen(&env, &after).await;
    assert_eq!(s.age, Some(20), "data carried over");
    assert_eq!(
        s.take_flash::<String>("notice").as_deref(),
        Some("hello"),
        "flash carried over"
    );
    assert_eq!(s.label().as_deref(), Some("phone"));
    assert_eq!(s.meta(), Some(serde_json::json!({"ip": "::1"})));
    assert!(s.is_authenticated());
}

#[tokio::test]
async fn login_switches_from_initial_to_full_lifetime() {
    let env = env();
    let mut s = env.service.get::<Profile>(None).await.unwrap();
    set_age(&mut s, Some(1));
    let first = env.service.commit(&mut s).await.unwrap();
    let record = env
        .store
        .inner()
        .load(&first.id.unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        record.expires_at,
        env.clock.now().plus(5 * MIN),
        "fresh anonymous: initial lifetime"
    );

    let mut s = reopen(&env, &first).await;
    s.login(Binding::user("u"));
    let after = env.service.commit(&mut s).await.unwrap();
    let record = env
        .store
        .inner()
        .load(&after.id.unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        record.expires_at,
        env.clock.now().plus(60 * MIN),
        "logged in: full lifetime"
    );
}

#[tokio::test]
async fn login_without_a_prior_session_just_creates_one() {
    let env = env();
    let mut s = env.service.get::<Profile>(None).await.unwrap();
    let id = s.login(Binding::user("ada"));
    let after = env.service.commit(&mut s).await.unwrap();
    assert_eq!(after.id, Some(id));
    let writes = env.store.writes();
    assert!(
        matches!(writes.as_slice(), [StoreOp::Create(r)] if r.id == id),
        "{writes:?}"
    );
}

#[tokio::test]
async fn a_failed_rotation_keeps_the_old_session() {
    let env = env();
    let mut s = env.service.get::<Profile>(None).await.unwrap();
    set_age(&mut s, Some(20));
    let before = env.service.commit(&mut s).await.unwrap();
    let old_id = before.id.unwrap();

    // The new record cannot be written: the old one must survive.
    env.store.fail_creates(true);
    let mut s = reopen(&env, &before).await;
    s.login(Binding::user("u"));
    assert!(
        env.service
            .commit(&mut s)
            .await
            .unwrap_err()
            .is_unavailable()
    );
    assert!(env.store.inner().load(&old_id).await.unwrap().is_some());
    env.store.fail_creates(false);

    // The old one can be neither closed nor deleted: the new one is
    // withdrawn, the old one stays.
    env.store.fail_saves(true);
    env.store.fail_deletes(true);
    let mut s = reopen(&env, &before).await;
    let new_id = s.login(Binding::user("u"));
    assert!(env.service.commit(&mut s).await.is_err());
    env.store.fail_saves(false);
    env.store.fail_deletes(false);
    assert!(env.store.inner().load(&old_id).await.unwrap().is_some());
    // (Withdrawing the new record failed too while deletes were down; it is
    // bound to the user, so revoke-all or expiry removes it.)
    let _ = new_id;

    // Closed but not deleted: the old record loads no more, so the move is
    // done, and expiry removes the old record.
    env.store.fail_deletes(true);
    let mut s = reopen(&env, &before).await;
    let new_id = s.login(Binding::user("v"));
    let moved = env.service.commit(&mut s).await.unwrap();
    env.store.fail_deletes(false);
    assert_eq!(moved.outcome, PersistOutcome::Rotated);
    assert_eq!(moved.id, Some(new_id));
    assert_eq!(env.store.inner().load(&old_id).await.unwrap(), None);
    let back = reopen(&env, &moved).await;
    assert_eq!(back.age, Some(20));
}

#[tokio::test]
async fn a_login_as_another_user_moves_the_session_out_of_the_first_users_index() {
    let env = env();
    let mut s = env.service.get::<Profile>(None).await.unwrap();
    s.login(Binding::user("first"));
    let first = env.service.commit(&mut s).await.unwrap();
    assert_eq!(env.service.list_for_user("first").await.unwrap().len(), 1);

    let mut s = reopen(&env, &first).await;
    s.login(Binding::user("second"));
    env.service.commit(&mut s).await.unwrap();
    assert!(env.service.list_for_user("first").await.unwrap().is_empty());
    assert_eq!(env.service.list_for_user("second").await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_rotation_does_not_bring_back_a_session_revoked_meanwhile() {
    let env = env();
    let mut s = env.service.get::<Profile>(None).await.unwrap();
    s.login(Binding::user("u"));
    let t = token(&env.service.commit(&mut s).await.unwrap());

    // The request rotates its id while another device revokes every session.
    let cell = env.service.load(Some(&t)).await.unwrap();
    let new_id = cell.lock().rotate().expect("a stored session to move");
    assert_eq!(env.service.revoke_all("u", None).await.unwrap(), 1);
    let persisted = env.service.persist(&cell).await.unwrap();

    assert_eq!(persisted.outcome, PersistOutcome::Vanished);
    assert_eq!(persisted.cookie, session_core::CookieAction::Keep);
    assert_eq!(env.store.inner().load(&new_id).await.unwrap(), None);
    // Nor is the revoked session's old id marked as moved.
    let old_id = env.service.session_id_from_token(&t).unwrap();
    let marker = env.store.inner().load(&old_id.moved_marker_id()).await;
    assert_eq!(marker.unwrap(), None);
    assert!(env.service.list_for_user("u").await.unwrap().is_empty());
}

#[tokio::test]
async fn a_login_goes_ahead_when_the_old_session_went_meanwhile() {
    let env = env();
    let mut s = env.service.get::<Profile>(None).await.unwrap();
    set_age(&mut s, Some(20));
    let before = env.service.commit(&mut s).await.unwrap();
    let old_id = before.id.unwrap();

    // A login is a fresh authentication: it does not need the old session.
    let cell = env.service.load(Some(&token(&before))).await.unwrap();
    let new_id = cell.lock().login(Binding::user("u"));
    assert!(env.store.inner().delete(&old_id).await.unwrap());
    let persisted = env.service.persist(&cell).await.unwrap();

    assert_eq!(persisted.outcome, PersistOutcome::Rotated);
    assert!(env.store.inner().load(&new_id).await.unwrap().is_some());
    assert_eq!(env.service.list_for_user("u").await.unwrap().len(), 1);
}

/// Roger's session: logged in, aged 20, with a flash for him.
async fn rogers_session(env: &Env) -> Persisted {
    let mut s = env.service.get::<Profile>(None).await.unwrap();
    s.login(Binding::user("roger"));
    set_age(&mut s, Some(20));
    s.flash("notice", "for roger").unwrap();
    env.service.commit(&mut s).await.unwrap()
}

/// The session `persisted`'s token names, as the next request sees it.
async fn reopen(env: &Env, persisted: &Persisted) -> Session<Profile> {
    env.service
        .get::<Profile>(Some(&token(persisted)))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_login_as_another_user_passes_on_only_this_requests_changes() {
    let env = env();
    let roger = rogers_session(&env).await;

    // Ada logs in on the same browser: nothing of Roger's reaches her session.
    let mut s = reopen(&env, &roger).await;
    s.login(Binding::user("ada"));
    s.flash("welcome", "ada").unwrap();
    let ada = env.service.commit(&mut s).await.unwrap();
    assert_eq!(ada.outcome, PersistOutcome::Rotated);
    assert_eq!(
        env.store.inner().load(&roger.id.unwrap()).await.unwrap(),
        None
    );

    let mut s = reopen(&env, &ada).await;
    assert_eq!(s.age, None);
    assert_eq!(s.take_flash::<String>("notice"), None);
    assert_eq!(s.take_flash::<String>("welcome").as_deref(), Some("ada"));

    // The same user logging in again keeps the data.
    s.login(Binding::user("ada"));
    set_age(&mut s, Some(33));
    let again = env.service.commit(&mut s).await.unwrap();
    let mut s = reopen(&env, &again).await;
    s.login(Binding::user("ada"));
    let kept = env.service.commit(&mut s).await.unwrap();
    let s = reopen(&env, &kept).await;
    assert_eq!(s.age, Some(33));
}

#[tokio::test]
async fn a_login_apart_leaves_the_loaded_session_alone() {
    let env = env();
    let mut s = env.service.get::<Profile>(None).await.unwrap();
    set_age(&mut s, Some(20));
    let browser = env.service.commit(&mut s).await.unwrap();

    let mut s = reopen(&env, &browser).await;
    let apart = s.cell().lock().login_apart(Binding::user("bot"));
    session_tests::profile::set_name(&mut s, Some("api".into()));
    let persisted = env.service.commit(&mut s).await.unwrap();
    assert_eq!(persisted.id, Some(apart));

    let own = reopen(&env, &persisted).await;
    assert_eq!((own.age, own.name.as_deref()), (None, Some("api")));
    assert_eq!(own.user_id().as_deref(), Some("bot"));
    let left = reopen(&env, &browser).await;
    assert_eq!((left.age, left.name.as_deref()), (Some(20), None));
    assert_eq!(left.user_id(), None);
}

/// A flash read in the request of a login apart is gone from the session
/// left in place too: read exactly once.
#[tokio::test]
async fn a_flash_taken_in_a_login_apart_request_is_not_read_again() {
    let env = env();
    let mut s = env.service.get::<Profile>(None).await.unwrap();
    s.flash("notice", "once").unwrap();
    s.flash("later", "kept").unwrap();
    let browser = env.service.commit(&mut s).await.unwrap();

    let mut s = reopen(&env, &browser).await;
    assert_eq!(s.take_flash::<String>("notice").as_deref(), Some("once"));
    s.cell().lock().login_apart(Binding::user("bot"));
    env.service.commit(&mut s).await.unwrap();

    let mut s = reopen(&env, &browser).await;
    assert_eq!(s.take_flash::<String>("notice"), None, "read twice");
    assert_eq!(s.take_flash::<String>("later").as_deref(), Some("kept"));
}

#[tokio::test]
async fn a_login_as_another_user_keeps_its_changes_that_equal_the_old_values() {
    let env = env();
    let roger = rogers_session(&env).await;

    // Grace happens to be 20 too: her value is hers, not a no-change.
    let mut s = reopen(&env, &roger).await;
    s.login(Binding::user("grace"));
    set_age(&mut s, Some(20));
    let grace = env.service.commit(&mut s).await.unwrap();
    let s = reopen(&env, &grace).await;
    assert_eq!(s.user_id().as_deref(), Some("grace"));
    assert_eq!(s.age, Some(20));
}

/// A handle taken before a login as another user holds the old user's data:
/// changing it through `update` (which touches every field) must not carry
/// the fields it left alone into the new user's session.
#[tokio::test]
async fn a_handle_taken_before_a_login_as_another_user_passes_on_only_its_changes() {
    let env = env();
    let roger = rogers_session(&env).await;
    let mut s = reopen(&env, &roger).await;
    s.login(Binding::user("ada"));
    s.update(|p| p.name = Some("Ada".into()));
    let ada = env.service.commit(&mut s).await.unwrap();
    let s = reopen(&env, &ada).await;
    assert_eq!(s.user_id().as_deref(), Some("ada"));
    assert_eq!(
        (s.name.as_deref(), s.age),
        (Some("Ada"), None),
        "Roger's age reached Ada"
    );
}

/// A handle taken after a login as another user starts from the new
/// session's data (this request's changes), not the old user's.
#[tokio::test]
async fn a_handle_taken_after_a_login_as_another_user_reads_the_new_session() {
    let env = env();
    let roger = rogers_session(&env).await;
    let cell = env.service.load(Some(&token(&roger))).await.unwrap();
    cell.lock().login(Binding::user("ada"));
    let s = env.service.typed::<Profile>(&cell).unwrap();
    assert_eq!(s.user_id().as_deref(), Some("ada"));
    assert_eq!(s.age, None, "Ada's handle shows Roger's age");
}

#[tokio::test]
async fn a_logout_then_login_in_one_request_passes_nothing_on() {
    let env = env();
    let roger = rogers_session(&env).await;

    // A "switch user" handler: log out, then log in as someone else.
    let mut s = reopen(&env, &roger).await;
    s.destroy();
    s.login(Binding::user("grace"));
    let grace = env.service.commit(&mut s).await.unwrap();
    assert_eq!(grace.outcome, PersistOutcome::Rotated);
    assert_eq!(
        env.store.inner().load(&roger.id.unwrap()).await.unwrap(),
        None
    );
    let mut s = reopen(&env, &grace).await;
    assert_eq!(s.age, None);
    assert_eq!(s.take_flash::<String>("notice"), None);
}

/// Changes committed before a logout go with the logged-out session, also
/// when the same request then logs in as someone else.
#[tokio::test]
async fn changes_made_before_a_logout_do_not_reach_the_next_login() {
    let env = env();
    let roger = rogers_session(&env).await;
    let mut s = reopen(&env, &roger).await;
    set_age(&mut s, Some(21));
    s.flash("farewell", "for roger").unwrap();
    s.commit().unwrap();
    set_age(&mut s, Some(22)); // still in this handle at the logout
    s.destroy();
    s.login(Binding::user("grace"));
    let grace = env.service.commit(&mut s).await.unwrap();
    let mut s = reopen(&env, &grace).await;
    assert_eq!(s.user_id().as_deref(), Some("grace"));
    assert_eq!(s.age, None, "Roger's change reached Grace's session");
    assert_eq!(s.take_flash::<String>("farewell"), None);
}

/// What a handle sets after the logout and login is the new session's.
#[tokio::test]
async fn changes_made_after_a_logout_and_login_reach_the_new_session() {
    let env = env();
    let roger = rogers_session(&env).await;
    let mut s = reopen(&env, &roger).await;
    s.destroy();
    s.login(Binding::user("grace"));
    set_age(&mut s, Some(30));
    s.flash("welcome", "grace").unwrap();
    let grace = env.service.commit(&mut s).await.unwrap();
    let mut s = reopen(&env, &grace).await;
    assert_eq!(s.age, Some(30));
    assert_eq!(s.take_flash::<String>("welcome").as_deref(), Some("grace"));
}

/// The handle that logs out shows an empty session afterwards: a
/// whole-value change after the next login carries nothing of the old one.
#[tokio::test]
async fn the_handle_that_logs_out_starts_empty() {
    let env = env();
    let roger = rogers_session(&env).await;
    let mut s = reopen(&env, &roger).await;
    set_age(&mut s, Some(22));
    s.destroy();
    assert_eq!(s.age, None);
    s.login(Binding::user("grace"));
    s.update(|p| p.auth = true);
    let grace = env.service.commit(&mut s).await.unwrap();
    let back = reopen(&env, &grace).await;
    assert_eq!((back.age, back.auth), (None, true));
}

/// Another handle taken before the logout starts from an empty session at
/// its next change: its copy of the old data never reaches the new session.
#[tokio::test]
async fn a_handle_taken_before_another_handles_logout_passes_nothing_on() {
    let env = env();
    let roger = rogers_session(&env).await;
    let cell = env.service.load(Some(&token(&roger))).await.unwrap();
    let mut a = env.service.typed::<Profile>(&cell).unwrap();
    set_age(&mut a, Some(22));
    a.commit().unwrap();
    let mut b = env.service.typed::<Profile>(&cell).unwrap();
    b.destroy();
    b.login(Binding::user("grace"));
    drop(b);
    a.update(|p| p.tags.push("old".into()));
    session_tests::profile::set_name(&mut a, Some("Grace".into()));
    drop(a);
    let grace = env.service.persist(&cell).await.unwrap();
    let back = reopen(&env, &grace).await;
    assert_eq!(back.user_id().as_deref(), Some("grace"));
    assert_eq!(
        (back.age, back.tags.clone()),
        (None, vec!["old".to_owned()])
    );
    assert_eq!(back.name.as_deref(), Some("Grace"));
}

/// A logout then one or more logins apart still deletes the logged-out
/// session.
#[tokio::test]
async fn a_logout_then_logins_apart_delete_the_logged_out_session() {
    for logins in [1, 2] {
        let env = env();
        let roger = rogers_session(&env).await;
        let cell = env.service.load(Some(&token(&roger))).await.unwrap();
        cell.lock().destroy();
        for _ in 0..logins {
            cell.lock().login_apart(Binding::user("grace"));
        }
        env.service.persist(&cell).await.unwrap();
        let left = env.store.inner().load(&roger.id.unwrap()).await.unwrap();
        assert_eq!(left, None, "after {logins} logins apart");
    }
}

/// A handler's extractor handle exists before its logout and login: what
/// it changes afterwards, by any means, is the new session's.
#[tokio::test]
async fn an_extractor_handles_changes_after_a_logout_and_login_are_kept() {
    let env = env();
    let roger = rogers_session(&env).await;
    let cell = env.service.load(Some(&token(&roger))).await.unwrap();
    let mut account = env.service.typed::<Profile>(&cell).unwrap();
    cell.lock().destroy();
    cell.lock().login(Binding::user("grace"));
    account.update(|p| p.auth = true);
    session_tests::profile::update_tags(&mut account, |t| *t = vec!["welcome".into()]);
    drop(account);
    let grace = env.service.persist(&cell).await.unwrap();
    let back = reopen(&env, &grace).await;
    assert_eq!(
        (back.auth, back.tags.clone(), back.age),
        (true, vec!["welcome".to_owned()], None)
    );
}

/// A value set, not yet committed, before another handle's logout goes
/// with the logged-out session.
#[tokio::test]
async fn a_setter_used_before_another_handles_logout_does_not_reach_the_next_login() {
    let env = env();
    let roger = rogers_session(&env).await;
    let cell = env.service.load(Some(&token(&roger))).await.unwrap();
    let mut a = env.service.typed::<Profile>(&cell).unwrap();
    session_tests::profile::set_name(&mut a, Some("Roger Admin".into()));
    let mut b = env.service.typed::<Profile>(&cell).unwrap();
    b.destroy();
    b.login(Binding::user("grace"));
    drop(b);
    drop(a);
    let grace = env.service.persist(&cell).await.unwrap();
    assert_eq!(reopen(&env, &grace).await.name, None);
}

/// A handle taken between a logout and a login starts from nothing of the
/// logged-out session.
#[tokio::test]
async fn a_handle_taken_after_a_logout_passes_nothing_of_the_old_session_on() {
    let env = env();
    let roger = rogers_session(&env).await;
    let cell = env.service.load(Some(&token(&roger))).await.unwrap();
    cell.lock().destroy();
    let mut later = env.service.typed::<Profile>(&cell).unwrap();
    assert_eq!(later.age, None);
    later.login(Binding::user("grace"));
    session_tests::profile::update_tags(&mut later, |t| t.push("grace's".into()));
    drop(later);
    let grace = env.service.persist(&cell).await.unwrap();
    let back = reopen(&env, &grace).await;
    assert_eq!(
        (back.age, back.tags.clone()),
        (None, vec!["grace's".to_owned()])
    );
}

/// Roger's session, authenticated and in group `staff` by its data, loaded
/// by a new request.
async fn rogers_staff_session(env: &Env) -> session_core::SessionCell {
    let mut s = env.service.get::<Profile>(None).await.unwrap();
    s.login(Binding::user("roger"));
    s.update(|p| {
        p.auth = true;
        p.group = Some("staff".into());
    });
    let roger = env.service.commit(&mut s).await.unwrap();
    env.service.load(Some(&token(&roger))).await.unwrap()
}

/// A handle taken before another handle's logout reports no change it will
/// not write, and its data no longer speaks for the session.
#[tokio::test]
async fn a_handle_taken_before_a_logout_reports_what_it_writes() {
    let env = env();
    let cell = rogers_staff_session(&env).await;
    let mut a = env.service.typed::<Profile>(&cell).unwrap();
    session_tests::profile::set_name(&mut a, Some("Roger Admin".into()));
    cell.lock().destroy();
    assert!(
        !a.is_authenticated(),
        "a logged-out session reads as authenticated"
    );
    assert_eq!(a.group_id(), None);
    cell.lock().login(Binding::user("grace"));
    assert_eq!(a.changed_fields().unwrap(), Vec::<&str>::new());
    assert!(a.is_authenticated(), "the new login's binding");
    assert_eq!(a.group_id(), None, "the logged-out session's group");
    // The session as it stands answers, as a handle taken now would.
    let mut b = env.service.typed::<Profile>(&cell).unwrap();
    b.update(|p| p.group = Some("ops".into()));
    b.commit().unwrap();
    assert_eq!(a.group_id().as_deref(), Some("ops"));
    drop(a);
    let grace = env.service.persist(&cell).await.unwrap();
    assert_eq!(reopen(&env, &grace).await.name, None);
}

/// A handle taken before a login as another user (no logout) answers with
/// the new session's data, not the old user's.
#[tokio::test]
async fn a_handle_taken_before_a_login_as_another_user_reports_the_new_sessions_group() {
    let env = env();
    let cell = rogers_staff_session(&env).await;
    let a = env.service.typed::<Profile>(&cell).unwrap();
    assert_eq!(a.group_id().as_deref(), Some("staff"));
    cell.lock().login(Binding::user("grace"));
    assert_eq!(a.group_id(), None, "grace's session reports roger's group");
}

/// Load A, load B, persist B, persist A: B saves a field and a flash and
/// takes another flash; A, loaded before, then rotates the session. The
/// rotation copies A's snapshot from its load into the new record and
/// deletes the old one, so B's saved field and flash are lost and the flash
/// B already read comes back to be read again. A plain save by A would have
/// merged with B's (see `concurrent_requests_changing_different_fields_both_survive`).
#[tokio::test]
async fn a_rotation_keeps_what_another_request_saved_after_its_load() {
    let env = env();
    let mut s = env.service.get::<Profile>(None).await.unwrap();
    s.login(Binding::user("roger"));
    set_age(&mut s, Some(20));
    s.flash("old", "read by b").unwrap();
    let t = token(&env.service.commit(&mut s).await.unwrap());

    let a = env.service.load(Some(&t)).await.unwrap();
    let mut b = env.service.get::<Profile>(Some(&t)).await.unwrap();
    session_tests::profile::set_name(&mut b, Some("from b".into()));
    b.flash("notice", "from b").unwrap();
    assert_eq!(b.take_flash::<String>("old").as_deref(), Some("read by b"));
    assert!(matches!(
        env.service.commit(&mut b).await.unwrap().outcome,
        PersistOutcome::Saved { .. }
    ));

    a.lock().rotate().expect("a stored session to move");
    let rotated = env.service.persist(&a).await.unwrap();
    assert_eq!(rotated.outcome, PersistOutcome::Rotated);

    let mut s = reopen(&env, &rotated).await;
    let name = s.name.clone();
    let notice = s.take_flash::<String>("notice");
    let old = s.take_flash::<String>("old");
    assert_eq!(
        (name.as_deref(), notice.as_deref(), old.as_deref()),
        (Some("from b"), Some("from b"), None),
        "B's saved name and flash lost, or its read flash read again"
    );
}

/// `changed_fields` after a login as another user names only what commit
/// writes: a handle taken before the login and changed through `update`
/// passes on only its change (see
/// `a_handle_taken_before_a_login_as_another_user_passes_on_only_its_changes`),
/// yet reports the old user's other fields as changed too.
#[tokio::test]
async fn a_handle_taken_before_a_login_as_another_user_reports_what_it_writes() {
    let env = env();
    let roger = rogers_session(&env).await;
    let mut s = reopen(&env, &roger).await;
    s.login(Binding::user("ada"));
    s.update(|p| p.name = Some("Ada".into()));
    let reported = s.changed_fields().unwrap();
    let ada = env.service.commit(&mut s).await.unwrap();
    let back = reopen(&env, &ada).await;
    assert_eq!((back.name.as_deref(), back.age), (Some("Ada"), None));
    assert_eq!(
        reported,
        ["name"],
        "reports Roger's age, which is not written"
    );
}
