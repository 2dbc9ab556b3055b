//! The demo's HTTP contract on the embedded default (memory) store.

use reqwest::Method;

use crate::support::{Demo, form_login, login_error_shown, send_raw};

fn visits(body: &str) -> u64 {
    let start = body.find("You visited this page: ").expect("counter text")
        + "You visited this page: ".len();
    body[start..]
        .split('<')
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn visit_counter_counts_from_one_and_keeps_counting_across_login() {
    let demo = Demo::start(&[], &[]);
    let mut b = demo.browser();
    let r = b.get("/").await;
    assert_eq!(r.status, 200);
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(visits(&r.body), 1);
    assert_eq!(visits(&b.get("/").await.body), 2);
    let r = form_login(&mut b, "roger", "roger-secret", "laptop").await;
    assert_eq!(r.status, 302);
    assert_eq!(visits(&b.get("/").await.body), 3);
    // Another client has its own count.
    assert_eq!(visits(&demo.browser().get("/").await.body), 1);
}

#[tokio::test]
async fn failed_login_flashes_an_error_shown_exactly_once() {
    let demo = Demo::start(&[], &[]);
    let mut b = demo.browser();
    let form = b.get("/login").await;
    assert!(form.body.contains("<form") && !form.body.contains("class=\"error\""));
    let r = form_login(&mut b, "roger", "wrong", "").await;
    assert_eq!(r.status, 302);
    assert_eq!(r.headers["location"], "/login");
    assert!(login_error_shown(&mut b).await);
    assert!(!login_error_shown(&mut b).await, "shown once");
    let r = form_login(&mut b, "nobody", "roger-secret", "").await;
    assert_eq!(r.headers["location"], "/login");
    // A form without a password is a failed login too, not a 4xx.
    let r = b
        .send(
            reqwest::Method::POST,
            "/login",
            Some(&[("username", "roger")]),
        )
        .await;
    assert_eq!(r.status, 302);
    assert_eq!(r.headers["location"], "/login");
    assert!(login_error_shown(&mut b).await);
}

#[tokio::test]
async fn successful_login_redirects_to_me_with_a_fresh_cookie() {
    let demo = Demo::start(&[], &[]);
    let mut b = demo.browser();
    b.get("/").await;
    let anonymous = b.jar["id"].clone();
    let r = form_login(&mut b, "ada", "ada-secret", "phone").await;
    assert_eq!(r.status, 302);
    assert_eq!(r.headers["location"], "/me");
    let cookie = r.cookie("id").expect("session cookie");
    assert_ne!(cookie.value, anonymous, "new session id at login");
    assert!(cookie.has("HttpOnly") && cookie.has("SameSite=Lax") && cookie.has("Path=/"));
    let me = b.get("/me").await.json();
    assert_eq!(me["user"], "ada");
    assert_eq!(me["authenticated"], true);
    assert_eq!(me["group"], "engineering");
    assert_eq!(me["field"], "test");
    assert_eq!(me["visits"], 1);
    // The login form sends a logged-in user straight on.
    let r = b.get("/login").await;
    assert_eq!(r.status, 302);
    assert_eq!(r.headers["location"], "/me");
    // Before login /me shows an anonymous session.
    let fresh = demo.browser().get("/me").await.json();
    assert_eq!(
        (fresh["authenticated"].clone(), fresh["group"].clone()),
        (false.into(), serde_json::Value::Null)
    );
}

/// The form's "Remember me" box: checked, the session lives 30 days between
/// visits, and its cookie as long (`Max-Age`); unchecked, the app's six
/// hours, in a cookie kept until the browser closes. The seed's own form
/// (`POST /api/login`) has no box and keeps the app's settings.
/// A browser asking for a page that needs a login is sent to the login
/// form, which passes the page on, and goes back to it once logged in (a
/// failed attempt keeps it). An API client keeps its 401, and a page
/// elsewhere is never a login's destination.
#[tokio::test]
async fn a_browser_sent_to_log_in_comes_back_to_the_page_it_asked_for() {
    let demo = Demo::start(&[], &[]);
    let mut b = demo.browser();
    let r = b.navigate("/me/sessions").await;
    assert_eq!(r.status, 303, "{r:?}");
    let login_page = r.headers["location"].to_str().unwrap().to_owned();
    assert_eq!(login_page, "/login?next=%2Fme%2Fsessions");
    assert_eq!(demo.browser().get("/me/sessions").await.status, 401);

    let page = b.navigate(&login_page).await.body;
    assert!(
        page.contains(r#"<input type="hidden" name="next" value="/me/sessions">"#),
        "{page}"
    );
    let mut form = vec![("username", "ada"), ("password", "wrong")];
    form.push(("next", "/me/sessions"));
    let r = b.send(Method::POST, "/login", Some(&form)).await;
    assert_eq!(r.status, 302);
    assert_eq!(
        r.headers["location"],
        login_page.as_str(),
        "kept on failure"
    );
    form[1].1 = "ada-secret";
    let r = b.send(Method::POST, "/login", Some(&form)).await;
    assert_eq!(r.status, 302);
    assert_eq!(r.headers["location"], "/me/sessions");
    let r = b.navigate("/me/sessions").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json().as_array().map(Vec::len), Some(1));
    // Logged in already: the login page sends it straight on.
    let r = b.navigate(&login_page).await;
    assert_eq!(
        (r.status, &r.headers["location"]),
        (302, &"/me/sessions".parse().unwrap())
    );

    for foreign in [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
    ] {
        let mut b = demo.browser();
        let form = [
            ("username", "ada"),
            ("password", "ada-secret"),
            ("next", foreign),
        ];
        let r = b.send(Method::POST, "/login", Some(&form)).await;
        assert_eq!(r.headers["location"], "/me", "{foreign}");
        let page = b.navigate(&format!("/login?next={foreign}")).await;
        assert_eq!(page.headers["location"], "/me", "{foreign}");
    }
    // A query that does not parse is no `next`: the form all the same.
    let r = demo.browser().navigate("/login?next=a&next=b").await;
    assert_eq!(r.status, 200);
    assert!(!r.body.contains("name=\"next\""), "{}", r.body);
}

#[tokio::test]
async fn remember_me_decides_whether_the_login_cookie_outlives_the_browser() {
    let demo = Demo::start(&[], &[]);
    let page = demo.browser().get("/login").await.body;
    assert!(
        page.contains("<input name=\"remember\" type=\"checkbox\">"),
        "{page}"
    );
    let login = |remember: Option<&'static str>| {
        let mut b = demo.browser();
        async move {
            let mut form = vec![("username", "ada"), ("password", "ada-secret")];
            form.extend(remember.map(|on| ("remember", on)));
            let r = b.send(reqwest::Method::POST, "/login", Some(&form)).await;
            assert_eq!(r.status, 302);
            let cookie = r.cookie("id").expect("login cookie").clone();
            assert_eq!(b.get("/me").await.json()["user"], "ada");
            cookie.max_age
        }
    };
    let hour = 3600;
    let remembered = demo::routes::login::REMEMBERED_LIFETIME.as_secs() as i64;
    assert!(
        login(Some("on"))
            .await
            .is_some_and(|age| (remembered - 60..=remembered).contains(&age)),
        "the remembered login's own 30 days"
    );
    assert_eq!(login(None).await, None, "a browser-session cookie");

    let mut b = demo.browser();
    let r = b
        .send(
            reqwest::Method::POST,
            "/api/login",
            Some(&[("email", "ada"), ("password", "ada-secret")]),
        )
        .await;
    assert!(
        r.cookie("id")
            .and_then(|c| c.max_age)
            .is_some_and(|age| age > hour)
    );
    // The user's device list says which login was remembered.
    let listed = b.get("/me/sessions").await.json();
    let remembered: Vec<bool> = listed
        .as_array()
        .expect("a list")
        .iter()
        .map(|s| s["remembered"].as_bool().expect("remembered"))
        .collect();
    assert_eq!(remembered.len(), 3, "{listed}");
    assert_eq!(remembered.iter().filter(|r| **r).count(), 1, "{listed}");
}

#[tokio::test]
async fn a_form_logout_ends_the_login_and_the_login_page_says_so_once() {
    let demo = Demo::start(&[], &[]);
    let mut b = demo.browser();
    form_login(&mut b, "ada", "ada-secret", "").await;
    let logged_in = b.jar["id"].clone();
    assert_eq!(b.get("/me").await.json()["authenticated"], true);

    let r = b.send(Method::POST, "/logout", None).await;
    assert_eq!(r.status, 302);
    assert_eq!(r.headers["location"], "/login");
    assert_ne!(b.jar["id"], logged_in, "a new anonymous session");

    let page = b.get("/login").await;
    assert_eq!(page.status, 200, "logged out: the form, not a redirect");
    assert!(
        page.body.contains("You have been signed out"),
        "{}",
        page.body
    );
    assert!(!b.get("/login").await.body.contains("signed out"), "once");
    assert_eq!(b.get("/me").await.json()["authenticated"], false);

    let mut replay = demo.browser();
    replay.jar.insert("id".into(), logged_in);
    assert_eq!(replay.get("/me").await.json()["authenticated"], false);
}

#[tokio::test]
async fn travetto_session_routes_need_a_principal_and_store_info() {
    let demo = Demo::start(&[], &[]);
    let mut b = demo.browser();
    assert_eq!(b.send(Method::PUT, "/session/info", None).await.status, 401);
    assert_eq!(b.get("/session/info/age").await.status, 401);
    assert_eq!(b.get("/session/logout").await.status, 401);
    form_login(&mut b, "roger", "roger-secret", "").await;
    assert_eq!(b.get("/session/info/age").await.body, "null");
    assert_eq!(b.send(Method::PUT, "/session/info", None).await.status, 204);
    assert_eq!(b.get("/session/info/age").await.body, "20");
    let token = b.jar["id"].clone();
    let r = b.get("/session/logout").await;
    assert_eq!(r.status, 204);
    assert_eq!(r.cookie("id").and_then(|c| c.max_age), Some(0));
    assert_eq!(b.get("/session/info/age").await.status, 401);
    let mut replay = demo.browser();
    replay.jar.insert("id".into(), token);
    assert_eq!(
        replay.get("/session/info/age").await.status,
        401,
        "the session is gone server-side"
    );
}

#[tokio::test]
async fn api_tokens_work_as_bearer_credentials() {
    let demo = Demo::start(&[], &[]);
    // Bad credentials: the OAuth 2 token endpoint's answer (RFC 6749
    // §5.2), the same for an unknown user, not a 401 (RFC 9110 would want
    // a challenge, and the credentials are not sent in an auth scheme).
    for (user, password) in [("ada", "nope"), ("nobody", "ada-secret")] {
        let bad = demo.request_token(user, password, "cli").await;
        assert_eq!(bad.status(), 400, "{user}");
        assert!(bad.headers().get("www-authenticate").is_none());
        assert!(bad.headers().get("set-cookie").is_none());
        assert_eq!(
            bad.json::<serde_json::Value>().await.unwrap(),
            serde_json::json!({
                "error": "invalid_grant",
                "error_description": "invalid username or password"
            }),
            "{user}"
        );
    }
    let ok = demo.request_token("ada", "ada-secret", "cli").await;
    assert_eq!(ok.status(), 200);
    assert!(ok.headers().get("set-cookie").is_none());
    assert_eq!(
        ok.headers().get("cache-control").map(|v| v.as_bytes()),
        Some(&b"no-store"[..]),
        "a credential is kept out of caches"
    );
    let token = ok.json::<serde_json::Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut api = demo.browser();
    api.bearer = Some(token);
    assert_eq!(
        api.send(Method::PUT, "/session/info", None).await.status,
        204
    );
    assert_eq!(api.get("/session/info/age").await.body, "20");
    let sessions = api.get("/me/sessions").await.json();
    assert_eq!(sessions[0]["label"], "cli");
}

#[tokio::test]
async fn an_api_token_asked_for_from_a_browser_leaves_its_session_alone() {
    let demo = Demo::start(&[], &[]);
    let mut b = demo.browser();
    form_login(&mut b, "roger", "roger-secret", "laptop").await;
    assert_eq!(visits(&b.get("/").await.body), 1);
    assert_eq!(b.send(Method::PUT, "/session/info", None).await.status, 204);
    // Same client, cookie sent along.
    let cookie = format!("id={}", b.jar["id"]);
    let r = demo
        .request_token_with_cookie("ada", "ada-secret", "cli", Some(&cookie))
        .await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("set-cookie").is_none());
    let token = r.json::<serde_json::Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();

    assert_eq!(b.get("/me").await.json()["user"], "roger");
    assert_eq!(visits(&b.get("/").await.body), 2);
    let mut api = demo.browser();
    api.bearer = Some(token);
    assert_eq!(api.get("/me").await.json()["user"], "ada");
    assert_eq!(
        api.get("/session/info/age").await.body,
        "null",
        "none of Roger's data"
    );
}

#[tokio::test]
async fn users_list_and_revoke_their_sessions_by_handle() {
    let demo = Demo::start(&[], &[]);
    let mut laptop = demo.browser();
    form_login(&mut laptop, "ada", "ada-secret", "laptop").await;
    let mut phone = demo.browser();
    form_login(&mut phone, "ada", "ada-secret", "phone").await;
    let mut api = demo.browser();
    api.bearer = Some(demo.token("ada", "ada-secret", "cli").await);
    let mut other = demo.browser();
    form_login(&mut other, "roger", "roger-secret", "desk").await;

    let list = laptop.get("/me/sessions").await.json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 3);
    let labels: Vec<_> = list.iter().map(|s| s["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["cli", "phone", "laptop"], "most recent first");
    assert_eq!(list.iter().filter(|s| s["current"] == true).count(), 1);
    assert_eq!(list[2]["current"], true);
    for s in list {
        let handle = s["handle"].as_str().unwrap();
        assert!(!laptop.jar["id"].contains(handle) && !handle.is_empty());
        assert!(s["created_at"].as_u64().unwrap() <= s["last_seen"].as_u64().unwrap());
        assert!(s["expires_at"].as_u64().unwrap() > s["last_seen"].as_u64().unwrap());
    }

    // A handle is not a credential.
    let mut forged = demo.browser();
    forged
        .jar
        .insert("id".into(), list[1]["handle"].as_str().unwrap().to_owned());
    assert_eq!(forged.get("/me/sessions").await.status, 401);

    // Another user's handle: 404, nothing changes.
    let roger_handle = other.get("/me/sessions").await.json()[0]["handle"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        laptop
            .send(
                Method::DELETE,
                &format!("/me/sessions/{roger_handle}"),
                None
            )
            .await
            .status,
        404
    );
    assert_eq!(other.get("/me/sessions").await.status, 200);

    // Revoke the phone by handle.
    let phone_handle = list[1]["handle"].as_str().unwrap();
    assert_eq!(
        laptop
            .send(
                Method::DELETE,
                &format!("/me/sessions/{phone_handle}"),
                None
            )
            .await
            .status,
        204
    );
    assert_eq!(phone.get("/me/sessions").await.status, 401);

    // Revoke every other session, the bearer one included.
    let r = laptop.post("/me/sessions/revoke-others").await;
    assert_eq!(r.json()["revoked"], 1);
    assert_eq!(api.get("/me/sessions").await.status, 401);
    let left = laptop.get("/me/sessions").await.json();
    assert_eq!(left.as_array().unwrap().len(), 1);
    assert_eq!(left[0]["current"], true);
    assert_eq!(
        other.get("/me/sessions").await.status,
        200,
        "other users untouched"
    );
}

/// A user keeps at most `MAX_SESSIONS_PER_USER` sessions: one login more
/// ends the least recently used, whose browser is logged out (the file and
/// Redis stores in `stores`).
#[tokio::test]
async fn a_login_past_the_per_user_limit_ends_the_oldest_session() {
    let demo = Demo::start(&[], &[]);
    crate::support::logins_past_the_limit_end_the_oldest(&demo).await;
}

#[tokio::test]
async fn bad_cookies_never_cause_a_server_error() {
    let demo = Demo::start(&[], &[]);
    for value in [
        "garbage",
        "a.b",
        "",
        "AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        let mut b = demo.browser();
        b.jar.insert("id".into(), value.to_owned());
        assert_eq!(b.get("/").await.status, 200);
        assert_eq!(b.get("/me/sessions").await.status, 401);
    }
}

/// A client that holds a bearer token and logs in through the form gets the
/// token of its new session (its login moves the bearer session, and sets
/// no cookie): it is never left without a credential.
#[tokio::test]
async fn a_form_login_from_a_bearer_client_hands_it_the_new_token() {
    let demo = Demo::start(&[], &[]);
    let old = demo.token("grace", "grace-secret", "cli").await;
    let mut b = demo.browser();
    b.bearer = Some(old.clone());
    let r = b
        .send(
            Method::POST,
            "/login",
            Some(&[("username", "grace"), ("password", "grace-secret")]),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.set_cookies.is_empty(), "{:?}", r.set_cookies);
    assert_eq!(r.headers["cache-control"], "no-store");
    let new = r.json()["token"].as_str().expect("a token").to_owned();
    assert_ne!(new, old);
    b.bearer = Some(new);
    assert_eq!(b.get("/me/sessions").await.status, 200);
    b.bearer = Some(old);
    assert_eq!(
        b.get("/me/sessions").await.status,
        401,
        "the old id is gone"
    );
}

/// astro-session's own login endpoint: `POST /api/login` with `email` and
/// `password`; a failure flashes the error and goes back to `/login`, a
/// login goes on to `/dashboard`, which is the user's page.
#[tokio::test]
async fn the_astro_session_login_endpoint_is_post_api_login() {
    let demo = Demo::start(&[], &[]);
    let mut b = demo.browser();
    let r = b
        .send(
            Method::POST,
            "/api/login",
            Some(&[("email", "roger"), ("password", "wrong")]),
        )
        .await;
    assert_eq!(r.status, 302, "{}", r.body);
    assert_eq!(r.headers["location"], "/login");
    assert!(login_error_shown(&mut b).await);
    let r = b
        .send(
            Method::POST,
            "/api/login",
            Some(&[("email", "roger"), ("password", "roger-secret")]),
        )
        .await;
    assert_eq!(r.status, 302, "{}", r.body);
    assert_eq!(r.headers["location"], "/dashboard");
    assert!(r.cookie("id").is_some_and(|c| !c.value.is_empty()));
    let r = b.get("/dashboard").await;
    assert_eq!(r.status, 302);
    assert_eq!(r.headers["location"], "/me");
    assert_eq!(b.get("/me").await.json()["user"], "roger");
}

/// A login's device label is stored with the session, so it is bounded: the
/// form says so (`maxlength`), and a longer label, from the form or an API
/// login, is cut to its first 100 characters (whole characters), the login
/// going through as it would in a browser.
#[tokio::test]
async fn a_long_login_label_is_cut_to_100_characters() {
    let demo = Demo::start(&[], &[]);
    let mut b = demo.browser();
    assert!(b.get("/login").await.body.contains("maxlength=\"100\""));
    // Long, yet inside the login body bound (8 KiB, percent-encoded).
    let long = "é".repeat(1_000);
    let kept = "é".repeat(100);
    let r = form_login(&mut b, "ada", "ada-secret", &long).await;
    assert_eq!(r.status, 302, "{}", r.body);
    assert_eq!(r.headers["location"], "/me");
    let mut api = demo.browser();
    api.bearer = Some(demo.token("ada", "ada-secret", &format!("cli{long}")).await);
    let sessions = b.get("/me/sessions").await.json();
    let labels: Vec<_> = sessions
        .as_array()
        .expect("a listing")
        .iter()
        .map(|s| s["label"].as_str().expect("a label").to_owned())
        .collect();
    let lengths: Vec<_> = labels.iter().map(|l| l.chars().count()).collect();
    assert_eq!(lengths, [100, 100], "characters kept");
    assert_eq!(labels, [format!("cli{}", &kept[..2 * 97]), kept.clone()]);
    // At the bound, a label is kept whole.
    let mut exact = demo.browser();
    form_login(&mut exact, "ada", "ada-secret", &kept).await;
    assert_eq!(exact.get("/me/sessions").await.json()[0]["label"], kept);
}

/// Every login route reads at most 8 KiB of body: a larger one is refused
/// with 413 before it is buffered further, with no session touched.
#[tokio::test]
async fn login_request_bodies_are_bounded_to_8_kib() {
    let demo = Demo::start(&[], &[]);
    let big = "a".repeat(9 * 1024);
    let form = format!("username=ada&password={big}");
    let json = serde_json::json!({"username": "ada", "password": big}).to_string();
    for (path, content_type, body) in [
        ("/login", "application/x-www-form-urlencoded", &form),
        ("/api/login", "application/x-www-form-urlencoded", &form),
        ("/api/token", "application/json", &json),
    ] {
        let r = send_raw(&demo, path, content_type, body.clone()).await;
        assert_eq!(r.status(), 413, "{path}");
        assert!(r.headers().get("set-cookie").is_none(), "{path}");
    }
    // Just under the bound, a body is read: a failed login as usual.
    let fits = format!("username=ada&password={}", "a".repeat(1024));
    let fits = format!("{fits}&label={}", "l".repeat(8 * 1024 - fits.len() - 7));
    assert_eq!(fits.len(), 8 * 1024);
    let r = send_raw(&demo, "/login", "application/x-www-form-urlencoded", fits).await;
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()["location"], "/login");
}

/// A user name over 256 bytes or a password over 1024 bytes is refused
/// before any password hashing, by every login route, saying only that one
/// of them is too long (not which, nor whether the user exists): the form
/// logins send the browser back to the login page, which shows that once
/// (a name within the form's `maxlength` characters can still be too many
/// bytes); the token endpoint answers 400. The form states the bounds
/// (`maxlength`); at the bound, a login is checked as usual.
#[tokio::test]
async fn over_long_user_names_and_passwords_are_refused_before_hashing() {
    let demo = Demo::start(&[], &[]);
    let form = demo.browser().get("/login").await.body;
    assert!(
        form.contains(r#"name="username" maxlength="256""#),
        "{form}"
    );
    assert!(
        form.contains(r#"name="password" type="password" maxlength="1024""#),
        "{form}"
    );
    let long_name = "r".repeat(257);
    // 200 characters, within `maxlength`, but 400 bytes.
    let wide_name = "é".repeat(200);
    let long_password = format!("roger-secret{}", "x".repeat(1024 - 11));
    for (user, password) in [
        (long_name.as_str(), "roger-secret"),
        (wide_name.as_str(), "roger-secret"),
        ("roger", long_password.as_str()),
        ("nobody", long_password.as_str()),
    ] {
        for path in ["/login", "/api/login"] {
            let mut b = demo.browser();
            let r = b
                .send(
                    Method::POST,
                    path,
                    Some(&[("username", user), ("password", password)]),
                )
                .await;
            assert_eq!(r.status, 302, "{path} {}", user.len());
            assert_eq!(r.headers["location"], "/login", "{path}");
            let page = b.get("/login").await.body;
            assert!(
                page.contains("Username or password too long"),
                "{path}: {page}"
            );
            assert!(!page.contains("Invalid username or password"), "{path}");
            let again = b.get("/login").await.body;
            assert!(!again.contains("too long"), "{path}: shown once");
            assert_eq!(b.get("/me").await.json()["authenticated"], false, "{path}");
        }
        let r = demo.request_token(user, password, "cli").await;
        assert_eq!(r.status(), 400);
        assert!(r.headers().get("set-cookie").is_none());
        assert_eq!(
            r.json::<serde_json::Value>().await.unwrap(),
            serde_json::json!({
                "error": "invalid_request",
                "error_description": "username or password too long"
            })
        );
    }
    // At the bounds: checked, and refused as a wrong password.
    let at_bound = "x".repeat(1024);
    let mut b = demo.browser();
    let r = form_login(&mut b, &"r".repeat(256), &at_bound, "").await;
    assert_eq!(r.status, 302);
    assert_eq!(r.headers["location"], "/login");
    assert!(login_error_shown(&mut b).await);
    assert_eq!(
        demo.request_token("ada", &at_bound, "cli").await.status(),
        400
    );
    assert_eq!(
        demo.request_token("ada", &at_bound, "cli")
            .await
            .json::<serde_json::Value>()
            .await
            .unwrap()["error"],
        "invalid_grant"
    );
}

/// Five failed logins for one user name, by any of the login routes, and
/// the next attempts for that name are refused without a password check,
/// the right password included, until 15 minutes have passed (the window
/// itself is the throttle's unit tests'): the form logins go back to the
/// login page, which says so once, and the token endpoint answers 429 with
/// `Retry-After`. Other names, and the same client for them, log in as
/// usual, and a name no user has is throttled alike.
#[tokio::test]
async fn failed_logins_past_the_limit_throttle_that_user_name_only() {
    use demo::routes::login::THROTTLED_MESSAGE;
    use demo::throttle::{MAX_FAILURES, WINDOW};

    let demo = Demo::start(&[], &[]);
    let mut b = demo.browser();
    for _ in 0..MAX_FAILURES - 2 {
        let r = form_login(&mut b, "ada", "wrong", "").await;
        assert_eq!(r.headers["location"], "/login");
        assert!(
            login_error_shown(&mut b).await,
            "a wrong password, as usual"
        );
    }
    let r = b
        .send(
            Method::POST,
            "/api/login",
            Some(&[("email", "ada"), ("password", "wrong")]),
        )
        .await;
    assert_eq!(r.headers["location"], "/login");
    assert!(login_error_shown(&mut b).await);
    let r = demo.request_token("ada", "wrong", "cli").await;
    assert_eq!(r.status(), 400, "the last failure allowed");

    // The right password now: refused like a failure, saying why.
    let r = form_login(&mut b, "ada", "ada-secret", "").await;
    assert_eq!(r.status, 302);
    assert_eq!(r.headers["location"], "/login");
    let page = b.get("/login").await.body;
    assert!(page.contains(THROTTLED_MESSAGE), "{page}");
    assert!(!page.contains("Invalid username or password"), "{page}");
    assert!(
        !b.get("/login").await.body.contains(THROTTLED_MESSAGE),
        "once"
    );
    assert_eq!(b.get("/me").await.json()["authenticated"], false);

    let r = demo.request_token("ada", "ada-secret", "cli").await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("set-cookie").is_none());
    let retry_after: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("delay-seconds");
    assert!(
        (1..=WINDOW.as_secs()).contains(&retry_after),
        "{retry_after}"
    );
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"],
        "too_many_attempts"
    );

    // Another name, from the same browser: logs in.
    let r = form_login(&mut b, "grace", "grace-secret", "").await;
    assert_eq!(r.headers["location"], "/me");
    assert_eq!(b.get("/me").await.json()["user"], "grace");
    assert_eq!(
        demo.request_token("roger", "roger-secret", "cli")
            .await
            .status(),
        200
    );

    // A name no user has: the same answers, telling nothing.
    let mut b = demo.browser();
    for _ in 0..MAX_FAILURES {
        form_login(&mut b, "nobody", "wrong", "").await;
        assert!(login_error_shown(&mut b).await);
    }
    form_login(&mut b, "nobody", "wrong", "").await;
    assert!(b.get("/login").await.body.contains(THROTTLED_MESSAGE));
    assert_eq!(
        demo.request_token("nobody", "ada-secret", "cli")
            .await
            .status(),
        429
    );
}

/// With `--secure` the cookie is `__Host-id`, `Secure`, `Path=/` and with
/// no `Domain`, as the prefix requires (so no sibling subdomain or
/// plain-HTTP page can plant one), on the cookie store too; it carries the
/// session, and an `id` cookie is not read. Without `--secure` it stays `id`.
#[tokio::test]
async fn secure_mode_names_the_cookie_with_the_host_prefix() {
    let host_cookie = |cookie: &session_tests::http::SetCookie| {
        assert_eq!(cookie.name, "__Host-id");
        assert!(cookie.has("Secure"), "{}", cookie.raw);
        assert!(cookie.has("Path=/"), "{}", cookie.raw);
        assert!(cookie.has("HttpOnly"), "{}", cookie.raw);
        assert!(
            !cookie
                .raw
                .split(';')
                .any(|a| a.trim().to_ascii_lowercase().starts_with("domain")),
            "{}",
            cookie.raw
        );
    };
    let demo = Demo::start(&["--secure"], &[]);
    let mut b = demo.browser();
    let r = b.get("/").await;
    assert_eq!(r.set_cookies.len(), 1, "{:?}", r.set_cookies);
    host_cookie(&r.set_cookies[0]);
    let r = form_login(&mut b, "ada", "ada-secret", "").await;
    host_cookie(r.cookie("__Host-id").expect("the login's cookie"));
    assert_eq!(b.get("/me").await.json()["user"], "ada");
    // The same value under the plain name is no session.
    let mut plain = demo.browser();
    plain.jar.insert("id".into(), b.jar["__Host-id"].clone());
    assert_eq!(plain.get("/me").await.json()["authenticated"], false);
    // Logout clears it with the same attributes.
    let r = b.get("/session/logout").await;
    let cleared = r.cookie("__Host-id").expect("cleared");
    assert_eq!(cleared.max_age, Some(0));
    host_cookie(cleared);
    drop(demo);

    let dir = crate::support::data_dir("secure-cookie");
    let cookie_store = ["--secure", "--store", "cookie", "--data-dir"];
    let demo = Demo::start(
        &[&cookie_store[..], &[&crate::support::path_arg(&dir)]].concat(),
        &[],
    );
    let mut b = demo.browser();
    let r = form_login(&mut b, "grace", "grace-secret", "").await;
    host_cookie(r.cookie("__Host-id").expect("the sealed session"));
    assert_eq!(b.get("/me").await.json()["user"], "grace");
    drop(demo);
    let _ = std::fs::remove_dir_all(&dir);

    let demo = Demo::start(&[], &[]);
    let r = demo.browser().get("/").await;
    let cookie = r.cookie("id").expect("plain name without --secure");
    assert!(!cookie.has("Secure"), "{}", cookie.raw);
}

/// Every answer carries the demo's hardening headers (`SecurityHeaders`,
/// ordered before the auth interceptor): pages and the session layer's own
/// 401 (a refused cross-origin write is answered before any interceptor).
#[tokio::test]
async fn every_answer_carries_the_hardening_headers() {
    fn assert_hardened(r: &reqwest::header::HeaderMap, what: &str) {
        for (name, value) in [
            ("x-frame-options", "DENY"),
            ("content-security-policy", "frame-ancestors 'none'"),
            ("x-content-type-options", "nosniff"),
            ("referrer-policy", "same-origin"),
        ] {
            assert_eq!(
                r.get(name).and_then(|v| v.to_str().ok()),
                Some(value),
                "{name} on {what}: {r:?}"
            );
        }
    }
    let demo = Demo::start(&[], &[]);
    let mut b = demo.browser();
    let page = b.get("/login").await;
    assert_eq!(page.status, 200);
    assert_hardened(&page.headers, "the login page");
    let unauthorized = demo.browser().get("/me/sessions").await;
    assert_eq!(unauthorized.status, 401);
    assert_hardened(&unauthorized.headers, "a 401");
}
