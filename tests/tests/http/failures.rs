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
