use session_axum::SigningKeys;

use crate::app::{MIN, key, start, start_on};

#[tokio::test]
async fn sliding_expiry_refreshes_only_past_the_threshold() {
    let t = start().await;
    let mut b = t.server.browser();
    b.post("/t/login?user=ada").await;
    t.clock.advance(29 * MIN);
    let r = b.get("/t/me").await;
    assert_eq!(r.status, 200);
    assert!(
        r.set_cookies.is_empty(),
        "31 of 60 minutes left: no refresh"
    );
    assert!(
        t.store
            .writes()
            .iter()
            .all(|w| !matches!(w, session_core::conformance::StoreOp::Touch(..)))
    );
    t.clock.advance(2 * MIN);
    let r = b.get("/t/me").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.cookie("sid").and_then(|c| c.max_age),
        Some(3600),
        "refreshed: Max-Age follows"
    );
    // The refreshed session outlives its first expiry.
    t.clock.advance(40 * MIN);
    assert_eq!(b.get("/t/me").await.status, 200);
}

#[tokio::test]
async fn key_rotation_reissues_the_cookie_under_the_first_key() {
    let old = start().await;
    let mut b = old.server.browser();
    b.post("/t/login?user=ada").await;
    let old_cookie = b.jar["sid"].clone();

    // Restart with a new first key, the old one kept for verification.
    let store = old.store.clone();
    let clock = old.clock.clone();
    drop(old.server);
    let keys = SigningKeys::new([key(2), key(1)]).unwrap();
    let t = start_on(store, clock, keys, |b| b).await;
    let mut b = t.server.browser();
    b.jar.insert("sid".into(), old_cookie.clone());
    let r = b.get("/t/me").await;
    assert_eq!(r.status, 200, "old-key cookie still authenticates");
    let reissued = r.cookie("sid").expect("re-issued");
    assert_ne!(reissued.value, old_cookie);
    let only_new = session_core::TokenSigner::new(SigningKeys::single(key(2)), "sid");
    assert!(
        only_new.verify_id(&reissued.value).is_ok(),
        "signed by the new first key"
    );
    let r = b.get("/t/me").await;
    assert!(r.set_cookies.is_empty(), "no re-issue once current");
}
