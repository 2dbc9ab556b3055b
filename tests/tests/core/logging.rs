//! Bad input and refused writes leave a line in the log (through `tracing`),
//! not only a fresh session or an error value.

use session_tests::logs::capture;
use session_tests::profile::Profile;

use crate::support::{env, service_like, token};

#[tokio::test]
async fn a_tampered_token_is_logged() {
    let env = env();
    let (log, _guard) = capture();
    let cell = env.service.load(Some("garbage.token")).await.unwrap();
    assert!(!cell.lock().is_loaded());
    assert!(
        log.text().contains("session token refused"),
        "{}",
        log.text()
    );
}

/// Live sessions signed by a key that is no longer first (a rotation under
/// way) are summed up at `info` at most once a minute with how many came,
/// so an operator sees when the older key is no longer in use.
#[tokio::test]
async fn sessions_signed_by_an_older_key_are_summed_up_at_most_once_a_minute() {
    let env = env();
    let cell = env.service.load(None).await.unwrap();
    cell.lock().set_field("name", "\"ada\"");
    let old = token(&env.service.persist(&cell).await.unwrap());
    let rotated_keys = session_core::SigningKeys::new([
        session_core::Key::new([2u8; 32]).unwrap(),
        session_core::Key::new([1u8; 32]).unwrap(),
    ])
    .unwrap();
    let rotated = session_core::SessionService::builder()
        .shared_store(env.service.store().clone())
        .keys(&rotated_keys)
        .token_context("sid")
        .expiry(crate::support::policy())
        .clock(env.service.clock().clone())
        .build()
        .unwrap();
    let reports = |text: &str| -> Vec<String> {
        let lines = text.lines().filter(|l| l.contains("older signing key"));
        lines.map(str::to_owned).collect()
    };
    let (log, _guard) = capture();
    for _ in 0..3 {
        assert!(rotated.load(Some(&old)).await.unwrap().lock().is_loaded());
    }
    let first = reports(&log.text());
    assert_eq!(first.len(), 1, "{}", log.text());
    assert!(
        first[0].contains(" INFO ") && first[0].contains("sessions=1"),
        "{}",
        first[0]
    );
    // Signed by the first key: not counted.
    let current = token(
        &rotated
            .persist(&rotated.load(Some(&old)).await.unwrap())
            .await
            .unwrap(),
    );
    env.clock.advance(std::time::Duration::from_secs(61));
    assert!(
        rotated
            .load(Some(&current))
            .await
            .unwrap()
            .lock()
            .is_loaded()
    );
    assert_eq!(reports(&log.text()).len(), 1, "{}", log.text());
    assert!(rotated.load(Some(&old)).await.unwrap().lock().is_loaded());
    let all = reports(&log.text());
    assert_eq!(all.len(), 2, "{}", log.text());
    assert!(all[1].contains("sessions=4"), "{}", all[1]);
}

/// A token whose signature no key of this instance verifies (tampered, or
/// signed by a key it does not hold: a rotation rolled out in the wrong
/// order, instances with different keys) is logged at `debug` each time,
/// and summed up at `warn` at most once a minute with how many there were,
/// so an operator sees users being logged out at the default level.
#[tokio::test]
async fn tokens_no_key_verifies_are_summed_up_in_a_warning_at_most_once_a_minute() {
    let env = env();
    let other = session_core::TokenSigner::new(
        session_core::SigningKeys::single(session_core::Key::new([9u8; 32]).unwrap()),
        "sid",
    );
    let foreign = other.sign_id(&session_core::SessionId::generate());
    let warnings = |text: &str| -> Vec<String> {
        let lines = text.lines().filter(|l| l.contains(" WARN "));
        lines.map(str::to_owned).collect()
    };
    let (log, _guard) = capture();
    for _ in 0..3 {
        let cell = env.service.load(Some(&foreign)).await.unwrap();
        assert!(!cell.lock().is_loaded());
    }
    let first = warnings(&log.text());
    assert_eq!(first.len(), 1, "{}", log.text());
    assert!(first[0].contains("refused=1"), "{}", first[0]);
    // Garbage is not a key problem: debug only.
    env.service.load(Some("garbage")).await.unwrap();
    env.clock.advance(std::time::Duration::from_secs(61));
    env.service.load(Some(&foreign)).await.unwrap();
    let all = warnings(&log.text());
    assert_eq!(all.len(), 2, "{}", log.text());
    assert!(
        all[1].contains("refused=3"),
        "the two held back and this one: {}",
        all[1]
    );
}

#[tokio::test]
async fn stored_data_failing_its_check_is_logged_with_the_type() {
    let env = env();
    // Written around the typed handle, which refuses such data.
    let cell = env.service.load(None).await.unwrap();
    cell.lock().set_field("age", "151");
    let t = token(&env.service.persist(&cell).await.unwrap());
    let checked = service_like(&env, |b| b.check_data::<Profile>());
    let (log, _guard) = capture();
    let cell = checked.load(Some(&t)).await.unwrap();
    assert!(!cell.lock().is_loaded());
    let text = log.text();
    assert!(
        text.contains("stored session data is invalid") && text.contains("151"),
        "{text}"
    );
}

/// Data a release stored in a type another release cannot read (a field
/// whose type changed between them, say), when no `check_data` names the
/// type: the line names the session and the type that failed, as the
/// check's line does.
#[tokio::test]
async fn stored_data_a_type_cannot_read_is_logged_with_the_session_and_the_type() {
    let env = env();
    let cell = env.service.load(None).await.unwrap();
    cell.lock().set_field("age", "\"forty\"");
    let t = token(&env.service.persist(&cell).await.unwrap());
    let (log, _guard) = capture();
    let cell = env.service.load(Some(&t)).await.unwrap();
    let id = cell.lock().id().unwrap();
    let typed = env.service.typed::<Profile>(&cell).unwrap();
    assert!(typed.is_new());
    let text = log.text();
    let line = text
        .lines()
        .find(|l| l.contains("stored session data is invalid"))
        .unwrap_or_else(|| panic!("no line: {text}"));
    assert!(line.contains(&format!("session={}", id.short())), "{line}");
    assert!(line.contains("Profile"), "{line}");
    // The stored value is the user's data: the line says what the type
    // expected, not what was found.
    assert!(!line.contains("forty"), "{line}");
    assert!(line.contains("expected u32"), "{line}");
}

/// A flash value stored by a release that flashed another type under the
/// same key: dropped, and the line names the session it came from, also
/// when the request logged in first (moving to a new id).
#[tokio::test]
async fn a_flash_value_that_does_not_decode_is_logged_with_its_session() {
    for login in [false, true] {
        let env = env();
        let cell = env.service.load(None).await.unwrap();
        session_core::SessionValues::new(cell.clone())
            .flash("notice", "saved")
            .unwrap();
        let t = token(&env.service.persist(&cell).await.unwrap());
        env.clock.advance(std::time::Duration::from_secs(1));
        let cell = env.service.load(Some(&t)).await.unwrap();
        let stored = cell.lock().id().unwrap();
        if login {
            cell.lock().login(session_core::Binding::user("u"));
        }
        let (log, _guard) = capture();
        let taken: Option<u64> =
            session_core::SessionValues::new(cell.clone()).take_flash("notice");
        assert_eq!(taken, None);
        let text = log.text();
        let line = text
            .lines()
            .find(|l| l.contains("undecodable flash value"))
            .unwrap_or_else(|| panic!("no line: {text}"));
        assert!(
            line.contains(&format!("session={}", stored.short())),
            "login {login}: {line}"
        );
    }
}

#[tokio::test]
async fn a_handle_dropped_with_a_value_that_would_not_read_back_is_logged() {
    #[session_axum::session_data]
    #[derive(Debug, Clone, Default)]
    pub struct Ratio {
        pub ratio: f64,
    }
    let env = env();
    let mut s = env.service.get::<Ratio>(None).await.unwrap();
    let cell = s.cell().clone();
    s.set_ratio(f64::NAN);
    let (log, _guard) = capture();
    drop(s);
    assert!(env.service.persist(&cell).await.is_err());
    let text = log.text();
    assert!(
        text.contains("session changes cannot be written") && text.contains("ratio"),
        "{text}"
    );
}

/// A handle changed and moved out of its handler (into a stream or a
/// WebSocket) before being committed: persist cannot see its changes, and
/// says so at once, naming the data type, rather than when the handle
/// drops, maybe hours later. A handle committed first is saved and not
/// reported.
#[tokio::test]
async fn a_handle_still_holding_changes_at_persist_is_reported_then() {
    let env = env();
    let (log, _guard) = capture();
    let mut moved = env.service.get::<Profile>(None).await.unwrap();
    let cell = moved.cell().clone();
    moved.update(|p| p.age = Some(30));
    let persisted = env.service.persist(&cell).await.unwrap();
    assert!(persisted.id.is_none(), "nothing to save yet: {persisted:?}");
    let text = log.text();
    assert!(
        text.contains("ERROR")
            && text.contains("still open at persist")
            && text.contains("Profile"),
        "{text}"
    );
    drop(moved);
    assert!(env.store.writes().is_empty(), "{:?}", env.store.writes());

    let (log, _guard) = capture();
    let mut committed = env.service.get::<Profile>(None).await.unwrap();
    let cell = committed.cell().clone();
    committed.update(|p| p.age = Some(30));
    committed.commit().unwrap();
    // Read again after the commit: still nothing unsaved.
    assert_eq!(committed.age, Some(30));
    assert!(env.service.persist(&cell).await.unwrap().id.is_some());
    assert!(
        !log.text().contains("still open at persist"),
        "{}",
        log.text()
    );
    drop(committed);

    // A commit that failed leaves the changes in the handle: still counted.
    let (log, _guard) = capture();
    let mut refused = env.service.get::<Profile>(None).await.unwrap();
    let cell = refused.cell().clone();
    refused.update(|p| p.age = Some(300));
    assert!(refused.commit().is_err());
    let _ = env.service.persist(&cell).await;
    assert!(
        log.text().contains("still open at persist"),
        "{}",
        log.text()
    );
    refused.update(|p| p.age = None);
    drop(refused);

    // Changes a logout dropped are not lost to persist: nothing to report.
    let (log, _guard) = capture();
    let mut before_logout = env.service.get::<Profile>(None).await.unwrap();
    let cell = before_logout.cell().clone();
    before_logout.update(|p| p.age = Some(30));
    cell.lock().destroy();
    env.service.persist(&cell).await.unwrap();
    assert!(
        !log.text().contains("still open at persist"),
        "{}",
        log.text()
    );
    drop(before_logout);
}

/// `SessionId`'s `Debug` shows only a prefix and `Key`'s nothing; the
/// values carrying a whole signed token (a credential) do not print it.
#[tokio::test]
async fn debug_output_of_values_carrying_a_token_does_not_show_the_token() {
    let env = env();
    let cell = env.service.load(None).await.unwrap();
    cell.lock().set_field("count", "1");
    let persisted = env.service.persist(&cell).await.unwrap();
    let t = token(&persisted);
    let debug = format!("{persisted:?}");
    assert!(!debug.contains(&t), "Persisted: {debug}");
    let logged_in = session_axum::LoggedIn {
        session_id: persisted.id.unwrap(),
        token: Some(t.clone()),
    };
    let debug = format!("{logged_in:?}");
    assert!(!debug.contains(&t), "LoggedIn: {debug}");
}

/// A write the store refuses (a session over its size limit, say) is
/// logged with the stored session it concerns, so an operator can find
/// the user who gets a 500 on every write.
#[tokio::test]
async fn a_refused_write_is_logged_with_its_session() {
    use session_axum::{App, Guard, RouteDef, SessionValues};
    async fn grow(values: SessionValues) -> &'static str {
        let pad = "x".repeat(
            values
                .get::<String>("pad")
                .unwrap()
                .unwrap_or_default()
                .len()
                + 600,
        );
        values.insert("pad", &pad).unwrap();
        "grown"
    }
    fn routes(_: &session_axum::AppContext) -> Result<Vec<RouteDef>, session_axum::BuildError> {
        Ok(vec![RouteDef {
            method: http::Method::GET,
            path: "/grow",
            guard: Guard::OPEN,
            handler: axum::routing::get(grow),
        }])
    }
    static ROUTES: session_axum::ControllerRegistration = session_axum::ControllerRegistration {
        name: "Grow",
        base_path: "/",
        routes,
    };
    let app = App::builder()
        .use_registry(false)
        .controller(&ROUTES)
        .store(session_core::MemoryStore::with_limit(
            std::sync::Arc::new(session_core::SystemClock),
            1000,
        ))
        .secret(session_core::Key::new([3u8; 32]).unwrap())
        .secure(false)
        .build()
        .unwrap();
    // The server runs on this test's thread, whose log is captured.
    let server = session_tests::http::TestServer::start(app.into_router()).await;
    let mut b = server.browser();
    assert_eq!(b.get("/grow").await.status, 200);
    let id = app_session_id(&b.jar["id"]);
    let (log, _guard) = capture();
    let r = b.get("/grow").await;
    assert_eq!(r.status, 500, "{r:?}");
    let text = log.text();
    let line = text
        .lines()
        .find(|l| l.contains("ERROR"))
        .unwrap_or_default();
    assert!(line.contains(&format!("session={id}")), "{text}");
}

/// The short form of the id the token `token` carries, as logs show it.
fn app_session_id(token: &str) -> String {
    let id = token.split('.').next().unwrap();
    let id: session_core::SessionId = id.parse().unwrap();
    id.short().to_string()
}

/// Logins, logouts and revocations show at `info`, naming sessions by
/// their short form and leaving the user id (personal data) out.
#[tokio::test]
async fn logins_logouts_and_revocations_are_logged_at_info_without_the_user() {
    const USER: &str = "user-ada-lovelace";
    let env = env();
    let info_lines = |text: &str, what: &str| -> Vec<String> {
        let lines = text
            .lines()
            .filter(|l| l.contains(" INFO ") && l.contains(what));
        lines.map(str::to_owned).collect()
    };
    let (log, _guard) = capture();
    let cell = env.service.load(None).await.unwrap();
    cell.lock().set_field("count", "1");
    let anonymous = env.service.persist(&cell).await.unwrap().id.unwrap();
    let cell = env
        .service
        .load(Some(&env.service.token_for(&anonymous)))
        .await
        .unwrap();
    cell.lock().login(session_core::Binding::user(USER));
    let persisted = env.service.persist(&cell).await.unwrap();
    let id = persisted.id.unwrap();
    let text = log.text();
    let lines = info_lines(&text, "session logged in");
    assert_eq!(lines.len(), 1, "{text}");
    assert!(
        lines[0].contains(&format!("session={}", id.short())),
        "{text}"
    );
    assert!(
        lines[0].contains(&format!("from={}", anonymous.short())),
        "{text}"
    );

    let cell = env.service.load(Some(&token(&persisted))).await.unwrap();
    cell.lock().destroy();
    env.service.persist(&cell).await.unwrap();
    let text = log.text();
    let lines = info_lines(&text, "session logged out");
    assert_eq!(lines.len(), 1, "{text}");
    assert!(
        lines[0].contains(&format!("session={}", id.short())),
        "{text}"
    );

    let one = env
        .service
        .create_session(session_core::Binding::user(USER))
        .await
        .unwrap();
    let two = env
        .service
        .create_session(session_core::Binding::user(USER))
        .await
        .unwrap();
    assert!(env.service.revoke(USER, &one).await.unwrap());
    assert_eq!(env.service.revoke_all(USER, None).await.unwrap(), 1);
    let text = log.text();
    let lines = info_lines(&text, "session revoked");
    assert_eq!(lines.len(), 1, "{text}");
    assert!(
        lines[0].contains(&format!("session={}", one.short())),
        "{text}"
    );
    let lines = info_lines(&text, "revoked a user's sessions");
    assert_eq!(lines.len(), 1, "{text}");
    assert!(lines[0].contains("revoked=1"), "{text}");
    assert!(!text.contains(USER), "{text}");
    let _ = two;
}
