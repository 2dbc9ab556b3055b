use session_core::{PersistOutcome, SessionStore as _};

use crate::support::{env, token};
use session_tests::profile::{Profile, set_name};

#[tokio::test]
async fn flash_is_read_once_on_a_later_request_then_gone() {
    let env = env();
    // Request 1: a failed login flashes an error (this creates the session).
    let mut s = env.service.get::<Profile>(None).await.unwrap();
    s.flash("error", "Invalid email/password").unwrap();
    assert_eq!(
        s.take_flash::<String>("error"),
        None,
        "not visible in the request that set it"
    );
    let t = token(&env.service.commit(&mut s).await.unwrap());

    // Request 2: the login page reads it.
    let mut s = env.service.get::<Profile>(Some(&t)).await.unwrap();
    assert_eq!(
        s.take_flash::<String>("error").as_deref(),
        Some("Invalid email/password")
    );
    assert_eq!(
        s.take_flash::<String>("error"),
        None,
        "taken once per request too"
    );
    assert!(matches!(
        env.service.commit(&mut s).await.unwrap().outcome,
        PersistOutcome::Saved { .. }
    ));

    // Request 3: gone.
    let mut s = env.service.get::<Profile>(Some(&t)).await.unwrap();
    assert_eq!(s.take_flash::<String>("error"), None);
}

#[tokio::test]
async fn a_flash_does_not_touch_the_field_of_the_same_name() {
    let env = env();
    let mut s = env.service.get::<Profile>(None).await.unwrap();
    set_name(&mut s, Some("field".into()));
    s.flash("name", "flash").unwrap();
    let t = token(&env.service.commit(&mut s).await.unwrap());
    let mut s = env.service.get::<Profile>(Some(&t)).await.unwrap();
    assert_eq!(s.take_flash::<String>("name").as_deref(), Some("flash"));
    env.service.commit(&mut s).await.unwrap();
    let s = env.service.get::<Profile>(Some(&t)).await.unwrap();
    assert_eq!(s.name.as_deref(), Some("field"));
}

#[tokio::test]
async fn peeking_without_taking_keeps_the_flash() {
    let env = env();
    let mut s = env.service.get::<Profile>(None).await.unwrap();
    s.flash("notice", 42).unwrap();
    let t = token(&env.service.commit(&mut s).await.unwrap());
    let s = env.service.get::<Profile>(Some(&t)).await.unwrap();
    assert_eq!(s.cell().lock().peek_flash("notice"), Some("42"));
    env.service.persist(s.cell()).await.unwrap();
    let mut s = env.service.get::<Profile>(Some(&t)).await.unwrap();
    assert_eq!(s.take_flash::<u32>("notice"), Some(42));
}

/// The token of a new session holding the flash `notice = value`.
async fn flashed(env: &crate::support::Env, value: &str) -> String {
    let mut s = env.service.get::<Profile>(None).await.unwrap();
    s.flash("notice", value).unwrap();
    token(&env.service.commit(&mut s).await.unwrap())
}

#[tokio::test]
async fn a_flash_taken_and_set_again_in_one_request_reaches_the_next() {
    let env = env();
    let t = flashed(&env, "first").await;

    // A failed form post reads the old message and flashes a new one.
    let mut s = env.service.get::<Profile>(Some(&t)).await.unwrap();
    assert_eq!(s.take_flash::<String>("notice").as_deref(), Some("first"));
    s.flash("notice", "second").unwrap();
    assert_eq!(s.take_flash::<String>("notice"), None, "still taken");
    env.service.commit(&mut s).await.unwrap();

    let mut s = env.service.get::<Profile>(Some(&t)).await.unwrap();
    assert_eq!(s.take_flash::<String>("notice").as_deref(), Some("second"));
}

#[tokio::test]
async fn a_flash_taken_and_set_again_survives_a_login() {
    let env = env();
    let t = flashed(&env, "first").await;

    let mut s = env.service.get::<Profile>(Some(&t)).await.unwrap();
    assert_eq!(s.take_flash::<String>("notice").as_deref(), Some("first"));
    s.flash("notice", "welcome").unwrap();
    s.login(session_core::Binding::user("u"));
    let t = token(&env.service.commit(&mut s).await.unwrap());

    let mut s = env.service.get::<Profile>(Some(&t)).await.unwrap();
    assert_eq!(s.take_flash::<String>("notice").as_deref(), Some("welcome"));
}

/// A request that takes a flash while another request of the same session
/// flashes that name again removes only the value it read: the new message
/// still reaches a later request, once.
#[tokio::test]
async fn a_flash_set_again_by_a_concurrent_request_is_not_removed_unseen() {
    let env = env();
    let t = flashed(&env, "first").await;

    let mut reader = env.service.get::<Profile>(Some(&t)).await.unwrap();
    assert_eq!(
        reader.take_flash::<String>("notice").as_deref(),
        Some("first")
    );
    // Meanwhile another request flashes a new message and finishes first.
    let mut writer = env.service.get::<Profile>(Some(&t)).await.unwrap();
    writer.flash("notice", "second").unwrap();
    env.service.commit(&mut writer).await.unwrap();
    env.service.commit(&mut reader).await.unwrap();

    let mut s = env.service.get::<Profile>(Some(&t)).await.unwrap();
    assert_eq!(s.take_flash::<String>("notice").as_deref(), Some("second"));
    env.service.commit(&mut s).await.unwrap();
    let mut s = env.service.get::<Profile>(Some(&t)).await.unwrap();
    assert_eq!(s.take_flash::<String>("notice"), None, "read once");
}

/// Roger's logged-in session with a name and a flash of its own, and the
/// token the browser holds for it.
async fn logged_in(env: &crate::support::Env) -> (String, session_core::SessionId) {
    let mut s = env.service.get::<Profile>(None).await.unwrap();
    s.login(session_core::Binding::user("roger"));
    set_name(&mut s, Some("roger".into()));
    s.flash("notice", "welcome").unwrap();
    let persisted = env.service.commit(&mut s).await.unwrap();
    (token(&persisted), persisted.id.unwrap())
}

/// The "you have been signed out" message: a flash set after the logout
/// reaches the next request, in a new anonymous session holding nothing of
/// the logged-out one (not its data, not its flash, not the flash or data
/// the request set before the logout), while the old session is gone.
#[tokio::test]
async fn a_flash_set_after_a_logout_reaches_the_next_request_in_a_new_anonymous_session() {
    use session_core::CookieAction;
    let env = env();
    let (t, old) = logged_in(&env).await;

    let mut s = env.service.get::<Profile>(Some(&t)).await.unwrap();
    set_name(&mut s, Some("before the logout".into()));
    s.flash("before", "set before the logout").unwrap();
    s.destroy();
    s.flash("notice", "signed out").unwrap();
    let persisted = env.service.commit(&mut s).await.unwrap();

    assert_eq!(persisted.outcome, PersistOutcome::Destroyed);
    let CookieAction::Set { token: next, .. } = &persisted.cookie else {
        panic!(
            "the new session's cookie replaces the old: {:?}",
            persisted.cookie
        )
    };
    let new = persisted.id.expect("the new session's id");
    assert_ne!(new, old);
    assert_eq!(env.store.inner().load(&old).await.unwrap(), None);
    assert!(env.service.list_for_user("roger").await.unwrap().is_empty());
    assert!(
        env.service
            .get::<Profile>(Some(&t))
            .await
            .unwrap()
            .session_id()
            .is_none(),
        "the logged-out token loads nothing"
    );

    let mut s = env.service.get::<Profile>(Some(next)).await.unwrap();
    assert!(s.cell().lock().binding().is_none(), "anonymous");
    assert_eq!(s.name, None, "no data of the logged-out session");
    assert_eq!(s.take_flash::<String>("before"), None);
    assert_eq!(
        s.take_flash::<String>("notice").as_deref(),
        Some("signed out")
    );
    let record = env.store.inner().load(&new).await.unwrap().unwrap();
    assert_eq!(
        record.expires_at,
        env.service.expiry().for_new(record.created_at, false),
        "an anonymous session's initial lifetime"
    );
}

/// The store saw deletes and no other write.
fn assert_only_deletes(env: &crate::support::Env) {
    let writes = env.store.writes();
    assert!(
        writes
            .iter()
            .all(|w| matches!(w, session_core::conformance::StoreOp::Delete(..))),
        "{writes:?}"
    );
}

/// Nothing written after the logout: no new session, the cookie cleared.
#[tokio::test]
async fn a_logout_with_nothing_written_after_it_clears_the_cookie_and_creates_nothing() {
    use session_core::CookieAction;
    let env = env();
    let (t, _) = logged_in(&env).await;
    let mut s = env.service.get::<Profile>(Some(&t)).await.unwrap();
    s.flash("before", "set before the logout").unwrap();
    s.destroy();
    env.store.clear();
    let persisted = env.service.commit(&mut s).await.unwrap();
    assert_eq!(persisted.outcome, PersistOutcome::Destroyed);
    assert_eq!(persisted.cookie, CookieAction::Clear);
    assert_eq!(persisted.id, None);
    assert_only_deletes(&env);
}

/// A client that keeps its own token (a bearer client) could not be handed
/// a new session's: what it writes after its logout is dropped, as any
/// bearer write without a session of its own.
#[tokio::test]
async fn a_flash_after_a_bearer_clients_logout_starts_no_session() {
    use session_core::CookieAction;
    let env = env();
    let (t, _) = logged_in(&env).await;
    let cell = env.service.load(Some(&t)).await.unwrap();
    cell.lock().keep_token();
    cell.lock().destroy();
    cell.lock().set_flash("notice", "\"signed out\"");
    env.store.clear();
    let persisted = env.service.persist(&cell).await.unwrap();
    assert_eq!(persisted.outcome, PersistOutcome::Destroyed);
    assert_eq!(persisted.cookie, CookieAction::Clear);
    assert_only_deletes(&env);
}

/// The cookie store seals the new session into the cookie.
#[tokio::test]
async fn on_the_cookie_store_a_flash_after_a_logout_is_sealed_into_the_new_cookie() {
    use session_core::CookieAction;
    let env = env();
    let service =
        crate::support::service_like(&env, |b| b.store(session_core::CookieStore::signed()));
    let mut s = service.get::<Profile>(None).await.unwrap();
    s.login(session_core::Binding::user("roger"));
    set_name(&mut s, Some("roger".into()));
    let t = token(&service.commit(&mut s).await.unwrap());

    let mut s = service.get::<Profile>(Some(&t)).await.unwrap();
    s.destroy();
    s.flash("notice", "signed out").unwrap();
    let persisted = service.commit(&mut s).await.unwrap();
    assert_eq!(persisted.outcome, PersistOutcome::Destroyed);
    let CookieAction::Set { token: next, .. } = &persisted.cookie else {
        panic!("{:?}", persisted.cookie)
    };
    let mut s = service.get::<Profile>(Some(next)).await.unwrap();
    assert!(s.cell().lock().binding().is_none());
    assert_eq!(s.name, None);
    assert_eq!(
        s.take_flash::<String>("notice").as_deref(),
        Some("signed out")
    );
}
