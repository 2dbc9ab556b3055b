use session_axum::SigningKeys;

use crate::app::{MIN, key, start, start_on, start_with};

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

/// "Remember me" unchecked: the login's cookie, and every later cookie of
/// that session (a sliding refresh, a re-signing under a new key), is a
/// browser-session cookie; the next session after the logout follows the
/// app's settings again.
#[tokio::test]
async fn a_login_without_remember_me_gets_browser_session_cookies_until_logout() {
    let old = start().await;
    let mut b = old.server.browser();
    let r = b.post("/t/login?user=ada&remember=false").await;
    assert_eq!(r.status, 204);
    let login = r.cookie("sid").expect("login cookie");
    assert!(!login.value.is_empty());
    assert_eq!(login.max_age, None, "browser-session cookie");

    old.clock.advance(31 * MIN);
    let r = b.get("/t/me").await;
    assert_eq!(r.status, 200);
    let refreshed = r.cookie("sid").expect("refreshed");
    assert_eq!(refreshed.max_age, None, "the refresh keeps the choice");

    // Restart under a new first key: the re-issued cookie keeps it too.
    let (store, clock) = (old.store.clone(), old.clock.clone());
    drop(old.server);
    let t = start_on(
        store,
        clock,
        SigningKeys::new([key(2), key(1)]).unwrap(),
        |b| b,
    )
    .await;
    let mut b2 = t.server.browser();
    b2.jar = b.jar.clone();
    let r = b2.get("/t/me").await;
    assert_eq!(r.status, 200);
    let reissued = r.cookie("sid").expect("re-issued under the new key");
    assert_ne!(reissued.value, refreshed.value);
    assert_eq!(reissued.max_age, None, "the re-issue keeps the choice");

    b2.post("/t/logout").await;
    let r = b2.get("/t/visit").await;
    assert_eq!(
        r.cookie("sid").and_then(|c| c.max_age),
        Some(300),
        "an anonymous session follows the app's settings"
    );
}

/// "Remember me" checked where the app's cookies are browser-session ones:
/// that login's cookie carries `Max-Age`, others' do not.
#[tokio::test]
async fn remember_me_gives_max_age_where_the_app_sets_browser_session_cookies() {
    let t = start_with(SigningKeys::single(key(1)), |b| {
        b.cookie(session_axum::CookieConfig {
            persistent: false,
            ..session_axum::CookieConfig::default()
        })
        .cookie_name("sid")
        .secure(false)
    })
    .await;
    let mut b = t.server.browser();
    let r = b.post("/t/login?user=ada&remember=true").await;
    assert_eq!(r.cookie("sid").and_then(|c| c.max_age), Some(3600));
    t.clock.advance(31 * MIN);
    let r = b.get("/t/me").await;
    assert_eq!(r.cookie("sid").and_then(|c| c.max_age), Some(3600));

    let mut other = t.server.browser();
    let r = other.post("/t/login?user=grace").await;
    let cookie = r.cookie("sid").expect("login cookie");
    assert_eq!(cookie.max_age, None, "the app's setting");
}

/// A login's own lifetime: the cookie's `Max-Age` and the session's expiry
/// follow it, longer or shorter than the app's 60 minutes, and it slides.
/// A login's own absolute limit ends its session at that age however
/// much it is used, with the cookie's `Max-Age` counting down to it.
#[tokio::test]
async fn a_logins_own_absolute_limit_ends_it_however_used() {
    let t = start().await;
    let mut b = t.server.browser();
    let r = b.post("/t/login?user=ada&absolute_mins=45").await;
    assert_eq!(r.cookie("sid").and_then(|c| c.max_age), Some(45 * 60));
    let mut other = t.server.browser();
    other.post("/t/login?user=grace").await;
    for _ in 0..4 {
        t.clock.advance(10 * MIN);
        assert_eq!(b.get("/t/me").await.status, 200);
        assert_eq!(other.get("/t/me").await.status, 200);
    }
    t.clock.advance(5 * MIN);
    assert_eq!(
        b.get("/t/me").await.status,
        401,
        "45 minutes after the login"
    );
    assert_eq!(other.get("/t/me").await.status, 200, "the app has no limit");
}

#[tokio::test]
async fn a_logins_own_lifetime_replaces_the_apps() {
    let t = start().await;
    let mut long = t.server.browser();
    let r = long.post("/t/login?user=ada&lifetime_mins=120").await;
    assert_eq!(r.cookie("sid").and_then(|c| c.max_age), Some(7200));
    let mut short = t.server.browser();
    short.post("/t/login?user=grace&lifetime_mins=10").await;

    t.clock.advance(59 * MIN);
    let r = long.get("/t/me").await;
    assert_eq!(r.status, 200);
    assert!(
        r.set_cookies.is_empty(),
        "61 of 120 minutes left: no refresh"
    );
    assert_eq!(short.get("/t/me").await.status, 401, "past its 10 minutes");

    t.clock.advance(31 * MIN);
    let r = long.get("/t/me").await;
    assert_eq!(r.status, 200, "alive past the app's 60 minutes");
    assert_eq!(
        r.cookie("sid").and_then(|c| c.max_age),
        Some(7200),
        "30 of 120 minutes left: refreshed by the login's lifetime"
    );
    t.clock.advance(119 * MIN);
    assert_eq!(long.get("/t/me").await.status, 200);
}
