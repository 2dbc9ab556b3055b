use axum::http::StatusCode;
use axum::routing::get;
use session_axum::Session;
use session_core::SigningKeys;
use session_core::conformance::StoreOp;
use session_tests::profile::Profile;

use crate::app::{key, start, start_with};

#[tokio::test]
async fn a_read_only_request_sets_no_cookie_and_touches_no_store() {
    let t = start().await;
    let mut b = t.server.browser();
    let r = b.get("/t/peek").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["visits"], 0);
    assert!(r.set_cookies.is_empty(), "{:?}", r.set_cookies);
    assert!(t.store.ops().is_empty(), "{:?}", t.store.ops());
    assert!(t.store.inner().is_empty());
}

#[tokio::test]
async fn write_then_read_back_over_real_cookies() {
    let t = start().await;
    let mut b = t.server.browser();
    let r = b.get("/t/visit").await;
    assert_eq!(r.body, "1");
    let cookie = r.cookie("sid").expect("session cookie set on first write");
    assert!(
        cookie.has("HttpOnly") && cookie.has("SameSite=Lax") && cookie.has("Path=/"),
        "{}",
        cookie.raw
    );
    assert_eq!(
        cookie.max_age,
        Some(300),
        "fresh anonymous session: initial lifetime"
    );
    assert_eq!(b.get("/t/visit").await.body, "2");
    let r = b.get("/t/peek").await;
    assert_eq!(r.json()["visits"], 2);
    assert!(
        r.set_cookies.is_empty(),
        "a read needs no new cookie: {:?}",
        r.set_cookies
    );
    assert_eq!(t.store.inner().len(), 1);
}

#[tokio::test]
async fn cookie_attributes_follow_the_builder() {
    let t = crate::app::start_with(session_core::SigningKeys::single(crate::app::key(1)), |b| {
        b.same_site(session_axum::SameSite::Strict).secure(true)
    })
    .await;
    let mut b = t.server.browser();
    let set = b.get("/t/visit").await;
    let cookie = set.cookie("sid").expect("session cookie");
    assert!(
        cookie.has("SameSite=Strict") && cookie.has("Secure") && !cookie.has("SameSite=Lax"),
        "{}",
        cookie.raw
    );
    let cleared = b.post("/t/logout").await;
    let cookie = cleared.cookie("sid").expect("clearing cookie");
    assert!(
        cookie.has("SameSite=Strict") && cookie.has("Secure"),
        "{}",
        cookie.raw
    );
}

/// A logout's clearing cookie, and a tampered cookie's, carry the attributes
/// the cookie is set with, or the browser keeps the old one.
#[tokio::test]
async fn clearing_keeps_a_custom_path_and_domain() {
    let t = start_with(SigningKeys::single(key(1)), |b| {
        b.cookie(session_axum::CookieConfig {
            name: "sid".into(),
            path: "/t".into(),
            domain: Some("app.example.test".into()),
            secure: false,
            ..Default::default()
        })
    })
    .await;
    let mut b = t.server.browser();
    let set = b.post("/t/login?user=ada").await;
    let mut tampered = b.jar["sid"].clone().into_bytes();
    tampered[4] = if tampered[4] == b'A' { b'B' } else { b'A' };
    let mut c = t.server.browser();
    c.jar
        .insert("sid".into(), String::from_utf8(tampered).unwrap());
    let refused = c.get("/t/me").await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.cookie("sid").unwrap().max_age, Some(0));
    let cleared = b.post("/t/logout").await;
    for cookie in [
        set.cookie("sid"),
        cleared.cookie("sid"),
        refused.cookie("sid"),
    ] {
        let cookie = cookie.expect("a session cookie");
        assert!(
            cookie.has("Path=/t")
                && cookie.has("Domain=app.example.test")
                && cookie.has("HttpOnly")
                && cookie.has("SameSite=Lax"),
            "{}",
            cookie.raw
        );
    }
    assert_eq!(cleared.cookie("sid").unwrap().max_age, Some(0));
}

#[tokio::test]
async fn a_compare_and_set_save_after_another_write_answers_409_and_writes_nothing() {
    use crate::app::{CAS_GO, CAS_LOADED};
    let t = start().await;
    let mut first = t.server.browser();
    assert_eq!(first.get("/t/visit").await.body, "1");
    let mut second = t.server.browser();
    second.jar = first.jar.clone();
    let held = tokio::spawn(async move { first.get("/t/visit-unless-changed").await });
    CAS_LOADED.notified().await;
    // Another request saves the session while the first one is held.
    assert_eq!(second.get("/t/visit").await.body, "2");
    CAS_GO.notify_one();
    let r = held.await.unwrap();
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.set_cookies.is_empty(), "{:?}", r.set_cookies);
    assert_eq!(second.get("/t/peek").await.json()["visits"], 2);
}

#[tokio::test]
async fn a_read_only_request_on_an_existing_session_writes_nothing() {
    let t = start().await;
    let mut b = t.server.browser();
    b.get("/t/visit").await;
    t.clock.advance(crate::app::MIN);
    b.get("/t/visit").await; // first use: switches to the full lifetime
    t.store.clear();
    for _ in 0..3 {
        let r = b.get("/t/peek").await;
        assert!(r.set_cookies.is_empty());
    }
    let ops = t.store.ops();
    assert_eq!(ops.len(), 3, "one load per request: {ops:?}");
    assert!(ops.iter().all(|o| matches!(o, StoreOp::Load(_))));
}

#[tokio::test]
async fn a_5xx_handler_does_not_persist() {
    let t = start().await;
    let mut b = t.server.browser();
    b.get("/t/visit").await;
    t.store.clear();
    let r = b.get("/t/fail").await;
    assert_eq!(r.status, 500);
    assert!(r.set_cookies.is_empty());
    assert!(t.store.writes().is_empty());
    assert_eq!(b.get("/t/peek").await.json()["visits"], 1);
}

#[tokio::test]
async fn a_response_below_500_persists() {
    let t = start().await;
    let mut b = t.server.browser();
    b.get("/t/visit").await;
    let r = b.get("/t/missing").await;
    assert_eq!(r.status, 404);
    assert_eq!(b.get("/t/peek").await.json()["visits"], 2);
}

#[tokio::test]
async fn concurrent_requests_changing_different_fields_both_survive() {
    let t = start().await;
    let mut b = t.server.browser();
    b.get("/t/visit").await;
    let cookie = format!("sid={}", b.jar["sid"]);
    let client = session_tests::http::client();
    for round in 0..5 {
        let a = client
            .get(t.server.url(&format!("/t/set-a?v=a{round}")))
            .header("cookie", &cookie)
            .send();
        let bb = client
            .get(t.server.url(&format!("/t/set-b?v=b{round}")))
            .header("cookie", &cookie)
            .send();
        let (ra, rb) = tokio::join!(a, bb);
        assert_eq!(ra.unwrap().status(), 204);
        assert_eq!(rb.unwrap().status(), 204);
        let back = b.get("/t/peek").await.json();
        assert_eq!(back["a"], format!("a{round}"));
        assert_eq!(back["b"], format!("b{round}"));
        assert_eq!(back["visits"], 1);
    }
}

async fn implausible_age(mut s: Session<Profile>) -> StatusCode {
    s.update(|p| p.age = Some(151));
    StatusCode::NO_CONTENT
}

#[tokio::test]
async fn a_change_the_data_type_refuses_fails_the_request_and_keeps_the_session() {
    let t = start_with(SigningKeys::single(key(1)), |b| {
        b.merge(axum::Router::new().route("/x/age", get(implausible_age)))
    })
    .await;
    let mut b = t.server.browser();
    assert_eq!(b.get("/t/visit").await.body, "1");
    assert_eq!(b.post("/t/login?user=ada").await.status, 204);
    let r = b.get("/x/age").await;
    assert_eq!(r.status, 500);
    assert_eq!(r.json()["error"], "session data invalid");
    assert!(!r.body.contains("151"), "no internals: {}", r.body);
    assert!(r.set_cookies.is_empty());
    // Nothing was stored: still logged in, the other data intact.
    assert_eq!(b.get("/t/me").await.json()["user_id"], "ada");
    assert_eq!(b.get("/t/peek").await.json()["visits"], 1);
}

/// README, "Cookie defaults" and "Expiry": an app that configures nothing
/// but its store and key names the cookie `id`, marks it `HttpOnly`,
/// `SameSite=Lax`, `Path=/` and `Secure`, gives a new anonymous session 5
/// minutes and a used one 6 hours, and keeps the response out of shared
/// caches.
#[tokio::test]
async fn an_app_with_nothing_configured_uses_the_documented_defaults() {
    let app = session_axum::App::builder()
        .store(session_core::MemoryStore::new())
        .secret(session_axum::Key::generate())
        .build()
        .expect("app builds");
    let server = session_tests::http::TestServer::start(app.into_router()).await;
    let mut b = server.browser();
    let r = b.get("/t/visit").await;
    let cookie = r.cookie("id").expect("the session cookie is named `id`");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Secure"] {
        assert!(cookie.has(attribute), "{} lacks {attribute}", cookie.raw);
    }
    assert_eq!(cookie.max_age, Some(5 * 60), "initial lifetime: 5 minutes");
    assert_eq!(r.headers["cache-control"], "private");
    // Used again on a later request: the full lifetime.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let r = b.get("/t/peek").await;
    assert_eq!(r.json()["visits"], 1);
    let cookie = r.cookie("id").expect("refreshed to the full lifetime");
    assert_eq!(cookie.max_age, Some(6 * 60 * 60), "lifetime: 6 hours");
    assert!(cookie.has("Secure"), "{}", cookie.raw);
}

/// README: "A 5xx response persists nothing": neither an expiry refresh
/// that was due nor the taking of a flash value, which the next request
/// still reads.
#[tokio::test]
async fn a_5xx_response_writes_no_due_refresh_and_takes_no_flash() {
    async fn flash(mut session: Session<session_tests::profile::Counters>) -> StatusCode {
        session.flash("notice", "saved").unwrap();
        StatusCode::NO_CONTENT
    }
    async fn take(mut session: Session<session_tests::profile::Counters>) -> String {
        format!("{:?}", session.take_flash::<String>("notice"))
    }
    async fn take_and_fail(
        mut session: Session<session_tests::profile::Counters>,
    ) -> (StatusCode, String) {
        let taken = session.take_flash::<String>("notice");
        (StatusCode::INTERNAL_SERVER_ERROR, format!("{taken:?}"))
    }
    let t = start_with(SigningKeys::single(key(1)), |b| {
        b.merge(
            axum::Router::new()
                .route("/x/flash", get(flash))
                .route("/x/take", get(take))
                .route("/x/take-and-fail", get(take_and_fail)),
        )
    })
    .await;
    let mut b = t.server.browser();
    assert_eq!(b.get("/x/flash").await.status, 204);
    // First use of the new session: a refresh to the full lifetime is due.
    t.clock.advance(crate::app::MIN);
    t.store.clear();
    let r = b.get("/x/take-and-fail").await;
    assert_eq!(r.status, 500);
    assert_eq!(r.body, r#"Some("saved")"#);
    assert!(r.set_cookies.is_empty(), "{:?}", r.set_cookies);
    assert!(t.store.writes().is_empty(), "{:?}", t.store.writes());
    // A logged-in session past its refresh threshold: the same.
    b.post("/t/login?user=ada").await;
    t.clock.advance(40 * crate::app::MIN);
    t.store.clear();
    assert_eq!(b.get("/t/fail").await.status, 500);
    assert!(t.store.writes().is_empty(), "{:?}", t.store.writes());
    assert_eq!(b.get("/x/take").await.body, r#"Some("saved")"#);
}
