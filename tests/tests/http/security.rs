//! Attacks that must fail, where no other module covers them
//! (session fixation through two cookies of one name or an old-key cookie,
//! guard bypass by method or path spelling, cookie-store key removal).

use crate::app::{key, start, start_with};
use session_axum::SigningKeys;

async fn raw(
    t: &crate::app::TestApp,
    method: reqwest::Method,
    path: &str,
    headers: &[(&str, String)],
) -> (u16, reqwest::header::HeaderMap, String) {
    let client = session_tests::http::client();
    let mut req = client.request(method, t.server.url(path));
    for (k, v) in headers {
        req = req.header(*k, v.clone());
    }
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    let h = r.headers().clone();
    (status, h, r.text().await.unwrap_or_default())
}

/// The status of `GET /t/me` with `token` as the only session cookie.
async fn me_status(t: &crate::app::TestApp, token: &str) -> u16 {
    let cookie = format!("sid={token}");
    raw(t, reqwest::Method::GET, "/t/me", &[("cookie", cookie)])
        .await
        .0
}

fn set_cookie_value(h: &reqwest::header::HeaderMap) -> Option<String> {
    h.get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            v.strip_prefix("sid=")
                .map(|r| r.split(';').next().unwrap().to_owned())
        })
}

async fn anon(t: &crate::app::TestApp) -> String {
    let mut b = t.server.browser();
    b.get("/t/visit").await;
    b.jar["sid"].clone()
}

#[tokio::test]
async fn a_victims_login_with_an_attackers_cookie_first_among_two_of_the_same_name_binds_neither_old_token()
 {
    let t = start().await;
    let attacker = anon(&t).await;
    let victim = anon(&t).await;
    let (s, h, _) = raw(
        &t,
        reqwest::Method::POST,
        "/t/login?user=victim",
        &[("cookie", format!("sid={attacker}; sid={victim}"))],
    )
    .await;
    assert_eq!(s, 204);
    let new = set_cookie_value(&h).expect("cookie");
    assert_ne!(new, attacker);
    for tok in [&attacker, &victim] {
        let s = me_status(&t, tok).await;
        assert_eq!(s, 401, "old token {tok} must not be logged in");
    }
    let s = me_status(&t, &new).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn a_login_with_an_old_key_cookie_retires_both_spellings_of_the_old_id() {
    let t = start_with(SigningKeys::new([key(1), key(2)]).unwrap(), |b| b).await;
    let old = session_core::TokenSigner::new(SigningKeys::single(key(2)), "sid");
    let attacker = anon(&t).await;
    let id = t.service.session_id_from_token(&attacker).unwrap();
    let attacker_old = old.sign_id(&id);
    let (s, h, _) = raw(
        &t,
        reqwest::Method::POST,
        "/t/login?user=victim",
        &[("cookie", format!("sid={attacker_old}"))],
    )
    .await;
    assert_eq!(s, 204);
    let new = set_cookie_value(&h).unwrap();
    assert!(t.service.session_id_from_token(&new).unwrap() != id);
    for tok in [&attacker, &attacker_old] {
        let s = me_status(&t, tok).await;
        assert_eq!(s, 401);
    }
}

#[tokio::test]
async fn guarded_routes_are_not_reached_by_other_methods_or_path_spellings() {
    let t = start().await;
    for (m, p) in [
        (reqwest::Method::HEAD, "/t/me"),
        (reqwest::Method::GET, "/t/me/"),
        (reqwest::Method::GET, "/t//me"),
        (reqwest::Method::GET, "/t/./me"),
        (reqwest::Method::GET, "/t/%6De"),
        (reqwest::Method::GET, "/T/me"),
        (reqwest::Method::GET, "/t/me%2F"),
        (reqwest::Method::GET, "/t/me;x=1"),
        (reqwest::Method::OPTIONS, "/t/me"),
        (reqwest::Method::GET, "/t/admin"),
        (reqwest::Method::HEAD, "/t/admin"),
    ] {
        let (s, _, body) = raw(&t, m.clone(), p, &[]).await;
        assert!(s == 401 || s == 404 || s == 405, "{m} {p}: {s} {body}");
    }
}

#[tokio::test]
async fn cookie_store_sessions_are_refused_after_their_key_is_removed_or_under_another_cookie_name()
{
    use session_core::{CookieStore, MockClock};
    use std::sync::Arc;
    async fn start_cs(
        keys: SigningKeys,
        name: &str,
        store: CookieStore,
    ) -> session_tests::http::TestServer {
        let clock = MockClock::starting_now();
        let app = session_axum::App::builder()
            .store(store)
            .keys(&keys)
            .secure(false)
            .cookie_name(name)
            .expiry(crate::app::policy())
            .clock(Arc::new(clock))
            .merge(axum::Router::new())
            .build()
            .unwrap();
        session_tests::http::TestServer::start(app.into_router()).await
    }
    for store in [CookieStore::signed(), CookieStore::encrypted()] {
        let old = start_cs(SigningKeys::single(key(2)), "sid", store).await;
        let mut b = old.browser();
        b.post("/t/login?user=ada").await;
        let tok = b.jar["sid"].clone();
        let removed = start_cs(SigningKeys::single(key(3)), "sid", store).await;
        let mut c = removed.browser();
        c.jar.insert("sid".into(), tok.clone());
        assert_eq!(c.get("/t/me").await.status, 401);
        let other = start_cs(SigningKeys::single(key(2)), "sid2", store).await;
        let mut d = other.browser();
        d.jar.insert("sid2".into(), tok.clone());
        assert_eq!(d.get("/t/me").await.status, 401);
    }
}

/// Retiring a key (dropping it from the list) ends what it signed: a cookie
/// and a bearer token it signed no longer authenticate on the same store,
/// the cookie is cleared, nothing answers 5xx, and the refusal is logged;
/// kept as an older key, both still work.
#[tokio::test]
async fn tokens_signed_by_a_retired_key_no_longer_authenticate() {
    use crate::app::start_on;
    let before = start_with(SigningKeys::single(key(2)), |b| b).await;
    let mut browser = before.server.browser();
    assert_eq!(browser.post("/t/login?user=ada").await.status, 204);
    let cookie = browser.jar["sid"].clone();
    let r = before.server.browser().post("/t/token?user=ada").await;
    let token = r.json()["token"].as_str().expect("a token").to_owned();
    let bearer = format!("Bearer {token}");
    let me = |t: &crate::app::TestApp, header: (&'static str, String)| {
        let url = t.server.url("/t/me");
        async move {
            let r = session_tests::http::client()
                .get(url)
                .header(header.0, header.1)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.headers().clone())
        }
    };

    let rotated = start_on(
        before.store.clone(),
        before.clock.clone(),
        SigningKeys::new([key(1), key(2)]).unwrap(),
        |b| b,
    )
    .await;
    assert_eq!(
        me(&rotated, ("cookie", format!("sid={cookie}"))).await.0,
        200
    );
    assert_eq!(me(&rotated, ("authorization", bearer.clone())).await.0, 200);

    let retired = start_on(
        before.store.clone(),
        before.clock.clone(),
        SigningKeys::single(key(1)),
        |b| b,
    )
    .await;
    let (log, _guard) = session_tests::logs::capture();
    let (status, headers) = me(&retired, ("cookie", format!("sid={cookie}"))).await;
    assert_eq!(status, 401);
    let cleared = headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.starts_with("sid=;") && v.contains("Max-Age=0"));
    assert!(cleared, "{headers:?}");
    let (status, headers) = me(&retired, ("authorization", bearer)).await;
    assert_eq!(status, 401);
    let challenge = headers["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("invalid_token"), "{challenge}");
    let text = log.text();
    assert!(
        text.lines()
            .any(|l| l.contains("WARN") && l.contains("refused=")),
        "{text}"
    );
    // The sessions are still there: only the key that vouched for them went.
    assert!(before.store.inner().len() >= 2);
}

/// Logs name sessions by a short prefix of their id: over a whole run of
/// logins, bearer logins, refused and tampered tokens, rotations and
/// logouts, logged at `debug`, no token, no full session id and no user id
/// shows.
#[tokio::test]
async fn no_log_line_shows_a_token_a_full_session_id_or_the_user() {
    let t = start().await;
    let (log, _guard) = session_tests::logs::capture();
    let mut tokens = Vec::new();
    let mut b = t.server.browser();
    b.get("/t/visit").await;
    tokens.push(b.jar["sid"].clone());
    assert_eq!(b.post("/t/login?user=user-7f3a9c").await.status, 204);
    tokens.push(b.jar["sid"].clone());
    assert_eq!(b.get("/t/me").await.status, 200);
    assert_eq!(b.post("/t/rotate-revoke-others").await.status, 200);
    tokens.push(b.jar["sid"].clone());
    assert_ne!(tokens[1], tokens[2], "rotated");

    let r = t.server.browser().post("/t/token?user=user-7f3a9c").await;
    let token = r.json()["token"].as_str().expect("a token").to_owned();
    tokens.push(token.clone());
    let mut api = t.server.browser();
    api.bearer = Some(token.clone());
    assert_eq!(api.get("/t/me").await.status, 200);
    assert_eq!(api.post("/t/logout").await.status, 204);
    assert_eq!(api.get("/t/me").await.status, 401);
    api.bearer = Some(format!("{token}x"));
    assert_eq!(api.get("/t/me").await.status, 401);

    let mut flipped = tokens[1].clone().into_bytes();
    flipped[3] = if flipped[3] == b'A' { b'B' } else { b'A' };
    let mut stale = t.server.browser();
    stale.jar.insert("sid".into(), tokens[1].clone());
    stale.get("/t/visit").await;
    stale
        .jar
        .insert("sid".into(), String::from_utf8(flipped).unwrap());
    stale.get("/t/me").await;
    assert_eq!(b.post("/t/logout").await.status, 204);

    let text = log.text();
    assert!(text.contains("DEBUG"), "debug lines are captured: {text}");
    for token in &tokens {
        let id = token.split('.').next().unwrap();
        assert_eq!(id.len(), 22, "{token}");
        assert!(!text.contains(id), "full id {id} logged:\n{text}");
        assert!(!text.contains(token.as_str()), "token logged:\n{text}");
    }
    assert!(!text.contains("user-7f3a9c"), "user id logged:\n{text}");
}
