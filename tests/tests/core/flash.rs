use session_core::PersistOutcome;

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
    s.flash("notice", &42).unwrap();
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
