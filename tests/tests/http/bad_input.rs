use crate::app::{MIN, start};

async fn logged_in(t: &crate::app::TestApp) -> session_tests::http::Browser {
    let mut b = t.server.browser();
    b.post("/t/login?user=ada").await;
    b
}

#[tokio::test]
async fn tampered_truncated_garbage_and_foreign_cookies_mean_no_principal_never_5xx() {
    let t = start().await;
    let good = logged_in(&t).await.jar["sid"].clone();
    let mut flipped = good.clone().into_bytes();
    flipped[5] = if flipped[5] == b'A' { b'B' } else { b'A' };
    let other_key = session_core::TokenSigner::new(
        session_core::SigningKeys::single(crate::app::key(9)),
        "sid",
    )
    .sign_id(&session_core::SessionId::generate());
    let bad = [
        String::from_utf8(flipped).unwrap(),
        good[..good.len() - 3].to_owned(),
        "garbage".to_owned(),
        "".to_owned(),
        "%%%;;==".to_owned(),
        "x".repeat(5000),
        other_key,
        // Past the longest token taken: refused before any signature check.
        "x".repeat(session_core::token::MAX_TOKEN_LEN + 1),
        // Base64 spellings the tokens never use: padding, the standard
        // alphabet, a second token glued on.
        format!("{good}="),
        {
            let (id, tag) = good.rsplit_once('.').unwrap();
            format!("{id}==.{tag}")
        },
        {
            let (id, tag) = good.rsplit_once('.').unwrap();
            format!("{id}.+{}", &tag[1..])
        },
        format!("{good}.{good}"),
    ];
    for value in bad {
        let mut b = t.server.browser();
        b.jar.insert("sid".into(), value.clone());
        let r = b.get("/t/me").await;
        assert_eq!(r.status, 401, "{value:?}");
        if !value.is_empty() {
            assert_eq!(
                r.cookie("sid").and_then(|c| c.max_age),
                Some(0),
                "bad cookie cleared: {value:?}"
            );
        }
        // Where the route allows it, the client gets a fresh anonymous session.
        let mut b = t.server.browser();
        b.jar.insert("sid".into(), value.clone());
        let r = b.get("/t/visit").await;
        assert_eq!((r.status, r.body.as_str()), (200, "1"), "{value:?}");
        assert!(
            r.cookie("sid").is_some_and(|c| c.max_age == Some(300)),
            "replaced: {value:?}"
        );
    }
}

#[tokio::test]
async fn garbage_authorization_headers_mean_no_principal() {
    let t = start().await;
    for header in [
        "Bearer",
        "Bearer garbage",
        "Basic Zm9vOmJhcg==",
        "Bearer a.b",
        "bearer      ",
    ] {
        let r = session_tests::http::client()
            .get(t.server.url("/t/me"))
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{header}");
    }
}

#[tokio::test]
async fn another_authorization_scheme_leaves_the_session_cookie_working() {
    // A staging site behind HTTP Basic: the browser sends both on every request.
    let t = start().await;
    let client = session_tests::http::client();
    let basic = "Basic Zm9vOmJhcg==";
    let login = client
        .post(t.server.url("/t/login?user=ada"))
        .header("authorization", basic)
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 204);
    let cookie = login
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("the login sets the cookie")
        .to_owned();
    let me = client
        .get(t.server.url("/t/me"))
        .header("authorization", basic)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    assert_eq!(
        me.json::<serde_json::Value>().await.unwrap()["user_id"],
        "ada"
    );
}

#[tokio::test]
async fn an_expired_session_cookie_gives_401_and_is_left_to_expire() {
    let t = start().await;
    let mut b = logged_in(&t).await;
    t.clock.advance(61 * MIN);
    let r = b.get("/t/me").await;
    assert_eq!(r.status, 401);
    // Its Max-Age ends it in the browser; a clearing cookie could race a login.
    assert!(r.set_cookies.is_empty(), "{:?}", r.set_cookies);
    assert!(t.store.inner().is_empty(), "expired record removed");
}

#[tokio::test]
async fn an_extractor_outside_the_session_layer_is_a_clear_500_not_a_panic() {
    let router = axum::Router::new().route(
        "/x",
        axum::routing::get(
            |_s: session_axum::Session<session_tests::profile::Counters>| async { "unreachable" },
        ),
    );
    let server = session_tests::http::TestServer::start(router).await;
    let r = server.browser().get("/x").await;
    assert_eq!(r.status, 500);
    assert_eq!(r.json()["error"], "session layer missing");
}

#[tokio::test]
async fn a_guard_outside_the_session_layer_is_the_same_clear_500_not_a_401() {
    // A route added to the router `into_router` returns: a logged-in user
    // would get 401 there, as if the login had not worked.
    let router = axum::Router::new().route(
        "/x",
        session_axum::Guard::AUTHENTICATED.apply(axum::routing::get(|| async { "unreachable" })),
    );
    let server = session_tests::http::TestServer::start(router).await;
    let r = server.browser().get("/x").await;
    assert_eq!(r.status, 500);
    assert_eq!(r.json()["error"], "session layer missing");
    assert!(r.headers.get("www-authenticate").is_none());
}

#[tokio::test]
async fn of_several_cookies_with_the_session_name_the_one_that_verifies_wins() {
    let t = start().await;
    let good = logged_in(&t).await.jar["sid"].clone();
    let r = session_tests::http::client()
        .get(t.server.url("/t/me"))
        .header(
            "cookie",
            format!("sid=stale-from-another-path; other=1; sid={good}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers().get("set-cookie").is_none(),
        "a valid session's cookie is left alone"
    );
}

/// A stale cookie of the session name on a more specific path comes first in
/// the header; its session is gone (logged out), and the live one behind it
/// still counts, or the user could never stay logged in under that path.
#[tokio::test]
async fn a_valid_cookie_of_a_gone_session_does_not_hide_the_live_one_behind_it() {
    let t = start().await;
    let mut old = logged_in(&t).await;
    let stale = old.jar["sid"].clone();
    assert_eq!(old.post("/t/logout").await.status, 204);
    let good = logged_in(&t).await.jar["sid"].clone();
    for header in [
        format!("sid={stale}; sid={good}"),
        format!("sid={good}; sid={stale}"),
    ] {
        let r = session_tests::http::client()
            .get(t.server.url("/t/me"))
            .header("cookie", &header)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{header}");
        assert!(r.headers().get("set-cookie").is_none(), "{header}");
    }
    let alone = session_tests::http::client()
        .get(t.server.url("/t/me"))
        .header("cookie", format!("sid={stale}"))
        .send()
        .await
        .unwrap();
    assert_eq!(alone.status(), 401);
}

#[test]
fn an_unusable_cookie_configuration_is_a_build_error() {
    let build = |name: &str, secure: bool| {
        session_axum::App::builder()
            .store(session_core::MemoryStore::new())
            .secret(crate::app::key(1))
            .cookie_name(name)
            .secure(secure)
            .build()
    };
    for (name, secure) in [("a;b", true), ("", true), ("__Host-id", false)] {
        let Err(err) = build(name, secure) else {
            panic!("{name:?} was accepted");
        };
        assert!(
            matches!(err, session_axum::BuildError::Cookie(_)),
            "{name}: {err}"
        );
    }
    assert!(build("__Host-id", true).is_ok());
}

/// Stores a `Profile` age that fails validation into `ada`'s session.
async fn break_adas_profile(t: &crate::app::TestApp) -> session_core::SessionId {
    use session_core::{Clock as _, SessionStore as _};
    let id = t.service.list_for_user("ada").await.unwrap()[0].id;
    let mut patch = session_core::SessionPatch {
        last_seen: t.clock.now(),
        ..Default::default()
    };
    patch.set_fields.insert("age", "999");
    t.store.inner().save(&id, &patch).await.unwrap();
    id
}

#[tokio::test]
async fn data_checked_at_load_that_fails_means_no_user_for_the_request() {
    use session_core::SessionStore as _;
    let checked =
        crate::app::start_with(session_core::SigningKeys::single(crate::app::key(1)), |b| {
            b.check_data::<session_tests::profile::Profile>()
        })
        .await;
    let mut b = logged_in(&checked).await;
    assert_eq!(b.get("/t/me").await.status, 200);
    let id = break_adas_profile(&checked).await;
    let r = b.get("/t/me").await;
    assert_eq!(r.status, 401, "{}", r.body);
    let r = b.get("/t/peek").await;
    assert_eq!((r.status, r.json()["visits"].clone()), (200, 0.into()));
    assert!(r.set_cookies.is_empty(), "{:?}", r.set_cookies);
    let stored = checked.store.inner().load(&id).await.unwrap().unwrap();
    assert_eq!(stored.fields.get("age"), Some("999"), "left as it was");

    // Without the check, only a read of `Profile` would notice.
    let unchecked = start().await;
    let mut b = logged_in(&unchecked).await;
    break_adas_profile(&unchecked).await;
    assert_eq!(b.get("/t/me").await.status, 200);
}

#[tokio::test]
async fn under_fail_data_checked_at_load_fails_reads_but_never_locks_the_client_out() {
    let t = crate::app::start_with(session_core::SigningKeys::single(crate::app::key(1)), |b| {
        b.check_data::<session_tests::profile::Profile>()
            .invalid_data(session_core::InvalidDataPolicy::Fail)
    })
    .await;
    let mut b = logged_in(&t).await;
    break_adas_profile(&t).await;
    assert_eq!(b.get("/t/peek").await.status, 500, "reading the data fails");
    assert_eq!(b.get("/t/me").await.status, 401);
    let r = b.post("/t/logout").await;
    assert_eq!(r.status, 204);
    assert_eq!(r.cookie("sid").and_then(|c| c.max_age), Some(0));
    assert!(t.service.list_for_user("ada").await.unwrap().is_empty());
    assert_eq!(b.get("/t/peek").await.status, 200, "a fresh start");
}

/// Reads `Profile` (which may turn out invalid), then asks for the principal.
async fn read_then_principal(
    session: session_axum::Session<session_tests::profile::Profile>,
    principal: Option<session_axum::Principal>,
) -> axum::Json<serde_json::Value> {
    drop(session);
    axum::Json(serde_json::json!({ "user": principal.map(|p| p.user_id) }))
}

/// The same extractors the other way round.
async fn principal_then_read(
    principal: Option<session_axum::Principal>,
    session: session_axum::Session<session_tests::profile::Profile>,
) -> axum::Json<serde_json::Value> {
    drop(session);
    axum::Json(serde_json::json!({ "user": principal.map(|p| p.user_id) }))
}

fn read_routes(
    _: &session_axum::AppContext,
) -> Result<Vec<session_axum::RouteDef>, session_axum::BuildError> {
    Ok(vec![
        session_axum::RouteDef {
            method: http::Method::GET,
            path: "/read-then-principal",
            guard: session_axum::Guard::AUTHENTICATED,
            handler: axum::routing::get(read_then_principal),
        },
        session_axum::RouteDef {
            method: http::Method::GET,
            path: "/principal-then-read",
            guard: session_axum::Guard::AUTHENTICATED,
            handler: axum::routing::get(principal_then_read),
        },
    ])
}

static READ: session_axum::ControllerRegistration = session_axum::ControllerRegistration {
    name: "BadInputRead",
    base_path: "/bi-read",
    routes: read_routes,
};

/// Without `check_data`, "only a handler reading `T` finds out, and the
/// login stays in use" (`AppBuilder::check_data`): the guard admits the
/// request as `ada`, and the handler's principal must not depend on whether
/// it extracted `Session<Profile>` before or after `Principal`.
#[tokio::test]
async fn without_the_check_invalid_data_read_by_a_handler_keeps_the_requests_principal() {
    let t = crate::app::start_with(session_core::SigningKeys::single(crate::app::key(1)), |b| {
        b.controller(&READ)
    })
    .await;
    let mut b = logged_in(&t).await;
    break_adas_profile(&t).await;
    assert_eq!(b.get("/t/me").await.status, 200, "the login stays in use");
    let first = b.get("/bi-read/principal-then-read").await;
    assert_eq!(
        (first.status, first.json()["user"].clone()),
        (200, "ada".into()),
        "{}",
        first.body
    );
    let after = b.get("/bi-read/read-then-principal").await;
    assert_eq!(
        (after.status, after.json()["user"].clone()),
        (200, "ada".into()),
        "the guard admitted ada, yet the principal is gone once Session<Profile> was read: {}",
        after.body
    );
}

/// Under `Fail`, a read of data that does not decode answers 500, and its
/// error line names the session, as the warning before it does: data
/// found invalid by the read, or by `check_data` at load (the record is
/// detached then).
#[tokio::test]
async fn under_fail_a_read_of_undecodable_data_logs_its_session() {
    for checked in [false, true] {
        let t =
            crate::app::start_with(session_core::SigningKeys::single(crate::app::key(1)), |b| {
                let b = b.invalid_data(session_core::InvalidDataPolicy::Fail);
                match checked {
                    true => b.check_data::<session_tests::profile::Profile>(),
                    false => b.controller(&READ),
                }
            })
            .await;
        let mut b = logged_in(&t).await;
        let id = break_adas_profile(&t).await;
        let (log, _guard) = session_tests::logs::capture();
        let path = if checked {
            "/t/peek"
        } else {
            "/bi-read/read-then-principal"
        };
        assert_eq!(b.get(path).await.status, 500);
        let text = log.text();
        let error = text
            .lines()
            .find(|l| l.contains("ERROR") && l.contains("session error"))
            .unwrap_or_else(|| panic!("no error line: {text}"));
        assert!(
            error.contains(&format!("session={}", id.short())),
            "checked {checked}: {text}"
        );
    }
}

/// README: "A tampered or malformed cookie is cleared". A session cookie
/// whose value holds a byte outside ASCII (a valid token with one byte
/// appended, or bytes that are no UTF-8 at all) is as tampered as one with
/// a changed character, and must be cleared the same way, not skipped as if
/// the request had sent no session cookie.
#[tokio::test]
async fn a_session_cookie_holding_a_non_utf8_byte_is_cleared_like_any_tampered_one() {
    let t = start().await;
    let good = logged_in(&t).await.jar["sid"].clone();
    let appended = [format!("sid={good}").as_bytes(), b"\xff"].concat();
    for value in [appended, b"sid=\xff\xfe".to_vec()] {
        let r = session_tests::http::client()
            .get(t.server.url("/t/me"))
            .header(
                "cookie",
                reqwest::header::HeaderValue::from_bytes(&value).unwrap(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        let cleared = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.starts_with("sid=;") && v.contains("Max-Age=0"));
        assert!(
            cleared,
            "tampered cookie {:?} left in place: {:?}",
            String::from_utf8_lossy(&value),
            r.headers().get_all("set-cookie")
        );
    }
}
