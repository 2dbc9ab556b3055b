use crate::app::start;

#[tokio::test]
async fn a_failing_store_gives_503_with_a_short_body() {
    let t = start().await;
    let mut b = t.server.browser();
    b.get("/t/visit").await;
    t.store.set_down(true);
    // Loading fails.
    let r = b.get("/t/peek").await;
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["error"], "session store unavailable");
    // A new session cannot be saved: the client is not told it succeeded.
    let mut fresh = t.server.browser();
    let r = fresh.get("/t/visit").await;
    assert_eq!(r.status, 503);
    assert!(r.set_cookies.is_empty());
    t.store.set_down(false);
    assert_eq!(
        b.get("/t/peek").await.json()["visits"],
        1,
        "nothing lost across the outage"
    );
}

/// A store outage fails every request: each is a `debug` line, and one
/// `warn` line a minute at most counts them, so an outage under load does
/// not flood the log. (The summary is process-wide: another test's outage
/// may have logged it already, so at most one is asserted.)
#[tokio::test]
async fn an_outage_logs_each_request_at_debug_and_a_summary_at_most_once_a_minute() {
    let t = start().await;
    let mut b = t.server.browser();
    b.get("/t/visit").await;
    t.store.set_down(true);
    let (log, _guard) = session_tests::logs::capture();
    for _ in 0..5 {
        assert_eq!(b.get("/t/peek").await.status, 503);
    }
    let text = log.text();
    let lines = |level: &str| {
        text.lines()
            .filter(|l| l.contains(level) && l.contains("session store unavailable"))
            .count()
    };
    assert_eq!(lines("DEBUG"), 5, "{text}");
    assert!(lines("WARN") <= 1, "{text}");
}

#[tokio::test]
async fn a_store_failing_only_on_write_gives_503_and_the_change_is_not_acknowledged() {
    let t = start().await;
    let mut b = t.server.browser();
    b.get("/t/visit").await;
    t.store.fail_creates(true);
    let r = b.post("/t/login?user=ada").await;
    assert_eq!(r.status, 503);
    assert!(r.set_cookies.is_empty());
    t.store.fail_creates(false);
    assert_eq!(b.get("/t/me").await.status, 401);
    assert_eq!(
        b.get("/t/peek").await.json()["visits"],
        1,
        "the old session survives a failed login"
    );
}

/// A memory store capped with `with_max_sessions`, filled by cookieless
/// writes (a flood of new visitors): a further new visitor gets a 503 with
/// no cookie, while a visitor holding a session goes on and a login still
/// goes through.
#[tokio::test]
async fn a_full_memory_store_refuses_new_visitors_and_keeps_its_sessions_and_logins() {
    use std::sync::Arc;

    let clock = session_core::MockClock::starting_now();
    let store = session_core::MemoryStore::with_clock(Arc::new(clock.clone())).with_max_sessions(1);
    let t = crate::app::start_on(
        session_core::conformance::RecordingStore::new(store),
        clock,
        session_axum::SigningKeys::single(crate::app::key(1)),
        |b| b,
    )
    .await;
    let mut regular = t.server.browser();
    assert_eq!(regular.get("/t/visit").await.body, "1");

    let mut refused = None;
    for _ in 0..10_000 {
        let r = t.server.browser().get("/t/visit").await;
        if r.status != 200 {
            refused = Some(r);
            break;
        }
    }
    let r = refused.expect("the cap never refused a new visitor");
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["error"], "session store unavailable");
    assert!(r.set_cookies.is_empty());

    assert_eq!(
        regular.get("/t/visit").await.body,
        "2",
        "a held session goes on"
    );
    let mut user = t.server.browser();
    let r = user.post("/t/login?user=ada").await;
    assert!(r.status < 400, "{}: {}", r.status, r.body);
    assert_eq!(user.get("/t/me").await.json()["user_id"], "ada");
}
