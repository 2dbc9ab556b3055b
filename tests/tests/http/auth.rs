use crate::app::start;
use session_axum::App;
use session_core::{Clock as _, SessionStore as _, SigningKeys};

#[tokio::test]
async fn guarded_routes_need_a_principal() {
    let t = start().await;
    let mut b = t.server.browser();
    let r = b.get("/t/me").await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"], "authentication required");
    assert_eq!(
        r.headers["www-authenticate"], r#"Bearer realm="session""#,
        "bearer tokens are on: a 401 says how to authenticate"
    );
    // Session data behind a guard without a principal: the handler never
    // runs, so even a writing one creates nothing.
    assert_eq!(b.get("/t/guarded-peek").await.status, 401);
    assert_eq!(b.get("/t/guarded-visit").await.status, 401);
    assert!(t.store.inner().is_empty());
}

#[tokio::test]
async fn login_rotates_the_id_and_the_old_cookie_stops_working() {
    let t = start().await;
    let mut b = t.server.browser();
    b.get("/t/visit").await;
    let before = b.jar["sid"].clone();
    let r = b.post("/t/login?user=roger").await;
    assert_eq!(r.status, 204);
    let after = r.cookie("sid").expect("new cookie at login");
    assert_ne!(after.value, before);
    assert_eq!(after.max_age, Some(3600), "logged in: full lifetime");

    let me = b.get("/t/me").await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["user_id"], "roger");
    assert_eq!(me.json().get("session_id"), None, "a principal shows no id");
    assert_eq!(
        b.get("/t/peek").await.json()["visits"],
        1,
        "data carried over"
    );

    let mut old = t.server.browser();
    old.jar.insert("sid".into(), before);
    assert_eq!(old.get("/t/me").await.status, 401);
    assert_eq!(old.get("/t/peek").await.json()["visits"], 0);
}

#[tokio::test]
async fn permissions_are_checked() {
    let t = start().await;
    let mut user = t.server.browser();
    user.post("/t/login?user=u").await;
    assert_eq!(user.get("/t/admin").await.status, 403);
    let mut admin = t.server.browser();
    admin.post("/t/login?user=root&perm=admin").await;
    let r = admin.get("/t/admin").await;
    assert_eq!((r.status, r.body.as_str()), (200, "hello admin root"));
}

#[tokio::test]
async fn logout_deletes_server_side_and_clears_the_cookie() {
    let t = start().await;
    let mut b = t.server.browser();
    b.post("/t/login?user=ada").await;
    let token = b.jar["sid"].clone();
    let r = b.post("/t/logout").await;
    assert_eq!(r.status, 204);
    let cleared = r.cookie("sid").expect("cleared cookie");
    assert_eq!(cleared.max_age, Some(0));
    assert!(cleared.has("HttpOnly") && cleared.has("Path=/") && cleared.has("SameSite=Lax"));
    assert!(t.store.inner().is_empty(), "record deleted");
    let mut replay = t.server.browser();
    replay.jar.insert("sid".into(), token);
    assert_eq!(replay.get("/t/me").await.status, 401);
}

#[tokio::test]
async fn logout_deletes_a_session_whose_data_no_longer_decodes() {
    let t = start().await;
    let mut b = t.server.browser();
    b.post("/t/login?user=ada").await;
    let token = b.jar["sid"].clone();
    let id = t.service.list_for_user("ada").await.unwrap()[0].id;
    // A deploy changed the field's type: the stored value no longer decodes.
    let mut patch = session_core::SessionPatch {
        last_seen: t.clock.now(),
        ..Default::default()
    };
    patch.set_fields.insert("visits", "\"oops\"");
    t.store.inner().save(&id, &patch).await.unwrap();

    let r = b.post("/t/logout-after-read").await;
    assert_eq!(r.status, 204);
    assert_eq!(r.cookie("sid").and_then(|c| c.max_age), Some(0));
    assert!(t.store.inner().is_empty(), "record deleted");
    let mut replay = t.server.browser();
    replay.jar.insert("sid".into(), token);
    assert_eq!(replay.get("/t/me").await.status, 401);
}

#[tokio::test]
async fn bearer_tokens_work_like_cookies() {
    let t = start().await;
    let mut api = t.server.browser();
    let r = api.post("/t/token?user=bot").await;
    assert_eq!(r.status, 200);
    assert!(r.set_cookies.is_empty(), "bearer login sets no cookie");
    api.bearer = Some(r.json()["token"].as_str().unwrap().to_owned());
    assert_eq!(api.get("/t/me").await.json()["user_id"], "bot");
    assert_eq!(api.get("/t/visit").await.body, "1");
    let r = api.get("/t/visit").await;
    assert_eq!(r.body, "2");
    assert!(r.set_cookies.is_empty(), "no cookies for bearer clients");
    // Logout invalidates the bearer token too.
    assert_eq!(api.post("/t/logout").await.status, 204);
    let r = api.get("/t/me").await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.headers["www-authenticate"],
        r#"Bearer realm="session", error="invalid_token""#
    );
}

#[tokio::test]
async fn a_bearer_write_without_a_usable_session_is_refused_not_stored_out_of_reach() {
    let t = start().await;
    let mut api = t.server.browser();
    api.bearer = Some("garbage".into());
    for _ in 0..2 {
        let r = api.get("/t/visit").await;
        assert_eq!(r.status, 401, "{}", r.body);
        assert_eq!(
            r.headers["www-authenticate"],
            r#"Bearer realm="session", error="invalid_token""#
        );
        assert!(r.set_cookies.is_empty());
    }
    assert!(t.store.inner().is_empty(), "no session nobody can reach");
    // Reads still answer on an open route; a token from a login works.
    assert_eq!(api.get("/t/peek").await.status, 200);
    let token = bearer_token(&mut api, "bot").await;
    api.bearer = Some(token);
    assert_eq!(api.get("/t/visit").await.body, "1");
    // Logged out, the same token is unusable again.
    assert_eq!(api.post("/t/logout").await.status, 204);
    assert_eq!(api.get("/t/visit").await.status, 401);
    assert!(t.store.inner().is_empty());
}

#[tokio::test]
async fn a_token_asked_for_with_a_browser_cookie_leaves_the_browser_session_alone() {
    let t = start().await;
    let mut b = t.server.browser();
    b.post("/t/login?user=roger").await;
    assert_eq!(b.get("/t/visit").await.body, "1");
    // The same client (its cookie sent along) asks for an API token.
    let r = b.post("/t/token?user=bot").await;
    assert_eq!(r.status, 200);
    assert!(r.set_cookies.is_empty());
    let token = r.json()["token"].as_str().unwrap().to_owned();

    // The browser is still Roger, its data intact.
    assert_eq!(b.get("/t/me").await.json()["user_id"], "roger");
    assert_eq!(b.get("/t/visit").await.body, "2");
    // The token names a session of its own, without Roger's data.
    let mut api = t.server.browser();
    api.bearer = Some(token);
    assert_eq!(api.get("/t/me").await.json()["user_id"], "bot");
    assert_eq!(api.get("/t/peek").await.json()["visits"], 0);
}

#[tokio::test]
async fn an_authorization_header_is_used_instead_of_the_cookie() {
    let t = start().await;
    let mut b = t.server.browser();
    b.post("/t/login?user=ada").await;
    assert_eq!(b.get("/t/me").await.json()["user_id"], "ada");
    let token = bearer_token(&mut t.server.browser(), "bot").await;
    // A valid bearer token wins over the cookie sent with it.
    b.bearer = Some(token);
    assert_eq!(b.get("/t/me").await.json()["user_id"], "bot");
    // A bad one is a failed bearer attempt: no fallback to the cookie.
    b.bearer = Some("garbage".into());
    let r = b.get("/t/me").await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.headers["www-authenticate"],
        r#"Bearer realm="session", error="invalid_token""#
    );
    b.bearer = None;
    assert_eq!(b.get("/t/me").await.json()["user_id"], "ada");
}

#[tokio::test]
async fn revoke_others_keeps_only_the_current_session_bearer_ones_included() {
    let t = start().await;
    let mut laptop = t.server.browser();
    laptop.post("/t/login?user=ada").await;
    let mut phone = t.server.browser();
    phone.post("/t/login?user=ada").await;
    let mut api = t.server.browser();
    let token = bearer_token(&mut api, "ada").await;
    api.bearer = Some(token);
    assert_eq!(
        laptop
            .get("/t/sessions")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(laptop.post("/t/revoke-others").await.body, "2");
    assert_eq!(phone.get("/t/me").await.status, 401);
    assert_eq!(api.get("/t/me").await.status, 401);
    assert_eq!(laptop.get("/t/me").await.status, 200);
    assert_eq!(
        laptop
            .get("/t/sessions")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn revoking_the_others_after_rotating_the_id_keeps_the_current_session() {
    let t = start().await;
    let mut laptop = t.server.browser();
    laptop.post("/t/login?user=ada").await;
    let mut phone = t.server.browser();
    phone.post("/t/login?user=ada").await;
    let before = laptop.jar["sid"].clone();
    let r = laptop.post("/t/rotate-revoke-others").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "1", "only the phone's session went");
    assert_ne!(laptop.jar["sid"], before, "the id was rotated");
    assert_eq!(laptop.get("/t/me").await.status, 200);
    assert_eq!(phone.get("/t/me").await.status, 401);
    let listed = t.service.list_for_user("ada").await.unwrap();
    assert_eq!(listed.len(), 1);
}

#[tokio::test]
async fn a_revoked_session_never_authenticates_again() {
    let t = start().await;
    let mut b = t.server.browser();
    b.post("/t/login?user=ada").await;
    let id = t.service.list_for_user("ada").await.unwrap()[0].id;
    assert!(t.service.revoke("ada", &id).await.unwrap());
    for _ in 0..2 {
        let r = b.get("/t/me").await;
        assert_eq!(r.status, 401);
        // Left alone: a login in another request may have replaced it.
        assert!(r.set_cookies.is_empty(), "{:?}", r.set_cookies);
    }
}

#[tokio::test]
async fn a_request_in_flight_during_a_login_does_not_log_the_browser_out_again() {
    use crate::app::{HELD_GO, HELD_LOADED};
    let t = start().await;
    let mut b = t.server.browser();
    b.get("/t/visit").await;
    // The same browser: a write that loaded the anonymous session before the
    // login, and a request sent before the login's response came back.
    let (mut in_flight, mut late) = (t.server.browser(), t.server.browser());
    (in_flight.jar, late.jar) = (b.jar.clone(), b.jar.clone());
    let held = tokio::spawn(async move { in_flight.get("/t/visit-held").await });
    HELD_LOADED.notified().await;
    assert_eq!(b.post("/t/login?user=ada").await.status, 204);
    HELD_GO.notify_one();
    let held = held.await.unwrap();
    let late = late.get("/t/peek").await;
    for r in [&held, &late] {
        // Either response may reach the browser after the login's: neither
        // may clear or replace the login's cookie.
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.set_cookies.is_empty(), "{:?}", r.set_cookies);
    }
    assert_eq!(b.get("/t/me").await.status, 200);
    assert_eq!(t.service.list_for_user("ada").await.unwrap().len(), 1);
}

/// A write the browser sent with the pre-login cookie before the login's
/// answer came back, reaching the server after the login: its answer would
/// start a new anonymous session whose cookie replaces the login's.
#[tokio::test]
async fn a_write_sent_before_a_logins_answer_does_not_log_the_browser_out() {
    let t = start().await;
    let mut b = t.server.browser();
    b.get("/t/visit").await;
    let mut late = t.server.browser();
    late.jar = b.jar.clone();
    assert_eq!(b.post("/t/login?user=ada").await.status, 204);

    let r = late.get("/t/visit").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.set_cookies.is_empty(), "{:?}", r.set_cookies);
    // The browser keeps the login's cookie, still logged in with its data.
    assert_eq!(b.get("/t/me").await.status, 200);
    assert_eq!(b.get("/t/peek").await.json()["visits"], 1);
    assert_eq!(t.service.list_for_user("ada").await.unwrap().len(), 1);
    // The old cookie still gets nothing of the session.
    assert_eq!(late.get("/t/me").await.status, 401);
}

/// The same write, from a browser that also holds a stale cookie of the
/// session's name (on a more specific path, which browsers send first): the
/// stale one names a session that is simply gone, the next the one the
/// login moved. Its answer must not replace the login's cookie either.
#[tokio::test]
async fn a_write_sent_before_a_logins_answer_behind_a_stale_cookie_does_not_log_the_browser_out() {
    let t = start().await;
    let mut b = t.server.browser();
    b.get("/t/visit").await;
    let old = b.jar["sid"].clone();
    let stale = t.service.token_for(&session_core::SessionId::generate());
    assert_eq!(b.post("/t/login?user=ada").await.status, 204);

    let mut late = t.server.browser();
    late.jar.insert("sid".into(), format!("{stale}; sid={old}"));
    let r = late.get("/t/visit").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.set_cookies.is_empty(), "{:?}", r.set_cookies);
    assert_eq!(b.get("/t/me").await.status, 200);
}

#[tokio::test]
async fn a_bearer_write_to_a_session_whose_data_is_invalid_is_refused_not_dropped() {
    let t = start().await;
    let mut api = t.server.browser();
    let token = bearer_token(&mut api, "bot").await;
    api.bearer = Some(token);
    assert_eq!(api.get("/t/visit").await.body, "1");
    let id = t.store.inner().list_for_user("bot").await.unwrap()[0].id;
    let patch = session_core::SessionPatch {
        set_fields: [("visits", "\"not a number\"")].into_iter().collect(),
        last_seen: t.clock.now(),
        ..session_core::SessionPatch::default()
    };
    t.store.inner().save(&id, &patch).await.unwrap();
    // Its data reads as no session; a write would start one the client
    // cannot hold: refused as for a token naming no session.
    let r = api.get("/t/visit").await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(
        r.headers["www-authenticate"],
        r#"Bearer realm="session", error="invalid_token""#
    );
    assert_eq!(t.store.inner().len(), 1, "nothing stored beside it");
}

/// A bearer token from `/t/token` for `user`, asked for by `client`.
pub(crate) async fn bearer_token(client: &mut session_tests::http::Browser, user: &str) -> String {
    let r = client.post(&format!("/t/token?user={user}")).await;
    r.json()["token"].as_str().unwrap().to_owned()
}

/// With bearer tokens turned off, no `Authorization: Bearer` is ever read:
/// `Auth::login_bearer` must not hand out a token the app will refuse (and
/// store a session bound to the user that no client can reach), as it
/// refuses with a client-side store, where bearer tokens are off too.
#[tokio::test]
async fn a_bearer_login_with_bearer_tokens_off_hands_out_no_dead_token() {
    let t = crate::app::start_with(session_axum::SigningKeys::single(crate::app::key(1)), |b| {
        b.bearer(false)
    })
    .await;
    let mut api = t.server.browser();
    let r = api.post("/t/token?user=bot").await;
    // The app's setting refuses it, not the store: the answer says so.
    assert_eq!(r.status, 501, "{r:?}");
    assert_eq!(r.json()["error"], "not supported by this app's sessions");
    assert!(
        r.json().get("token").is_none(),
        "a token the app refuses: {r:?}"
    );
    assert!(
        t.service.list_for_user("bot").await.unwrap().is_empty(),
        "a session bound to `bot` was stored that no client can reach"
    );
}

/// Logging out through the typed handle (`Session::destroy`, which the
/// handle offers beside `Auth::logout`) ends the request's login: `Auth`
/// extracted in the same handler must no longer report the user.
async fn destroy_then_ask(
    mut session: session_axum::Session<session_tests::profile::Counters>,
    auth: session_axum::Auth,
) -> axum::Json<serde_json::Value> {
    session.destroy();
    axum::Json(serde_json::json!({
        "authenticated": auth.is_authenticated(),
        "principal": auth.principal().map(|p| p.user_id),
    }))
}

/// The "you have been signed out" message: logs out, then flashes it.
async fn logout_with_notice(
    mut session: session_axum::Session<session_tests::profile::Counters>,
    auth: session_axum::Auth,
) -> Result<session_axum::LoggedOut, session_axum::SessionRejection> {
    let out = auth.logout().await?;
    session
        .flash("notice", "signed out")
        .map_err(|_| session_axum::SessionRejection::Unsupported)?;
    Ok(out)
}

#[derive(serde::Deserialize)]
struct Size {
    n: usize,
}

/// Logs out, then writes `n` bytes of data: more than a cookie holds for a
/// large `n`.
async fn logout_then_big(
    mut session: session_axum::Session<session_tests::profile::Counters>,
    auth: session_axum::Auth,
    axum::extract::Query(q): axum::extract::Query<Size>,
) -> Result<session_axum::LoggedOut, session_axum::SessionRejection> {
    let out = auth.logout().await?;
    session.update(|c| c.a = Some("x".repeat(q.n)));
    Ok(out)
}

/// Hands out a bearer token (to a browser, say), then logs out and
/// flashes the notice.
async fn token_then_logout_with_notice(
    session: session_axum::Session<session_tests::profile::Counters>,
    auth: session_axum::Auth,
) -> Result<session_axum::LoggedOut, session_axum::SessionRejection> {
    auth.login_bearer(session_axum::Binding::user("api"))?;
    logout_with_notice(session, auth).await
}

/// Takes the notice, and tells whether the request has a principal.
async fn notice(
    mut session: session_axum::Session<session_tests::profile::Counters>,
    auth: session_axum::Auth,
) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({
        "notice": session.take_flash::<String>("notice"),
        "authenticated": auth.is_authenticated(),
    }))
}

/// Routes that change the session through the typed handle, then ask `Auth`.
fn typed_routes(
    _: &session_axum::AppContext,
) -> Result<Vec<session_axum::RouteDef>, session_axum::BuildError> {
    Ok(vec![
        session_axum::RouteDef {
            method: http::Method::POST,
            path: "/destroy",
            guard: session_axum::Guard::OPEN,
            handler: axum::routing::post(destroy_then_ask),
        },
        session_axum::RouteDef {
            method: http::Method::POST,
            path: "/logout-with-notice",
            guard: session_axum::Guard::OPEN,
            handler: axum::routing::post(logout_with_notice),
        },
        session_axum::RouteDef {
            method: http::Method::POST,
            path: "/logout-then-big",
            guard: session_axum::Guard::OPEN,
            handler: axum::routing::post(logout_then_big),
        },
        session_axum::RouteDef {
            method: http::Method::POST,
            path: "/token-then-logout-with-notice",
            guard: session_axum::Guard::OPEN,
            handler: axum::routing::post(token_then_logout_with_notice),
        },
        session_axum::RouteDef {
            method: http::Method::GET,
            path: "/notice",
            guard: session_axum::Guard::OPEN,
            handler: axum::routing::get(notice),
        },
        session_axum::RouteDef {
            method: http::Method::POST,
            path: "/relogin",
            guard: session_axum::Guard::AUTHENTICATED,
            handler: axum::routing::post(relogin_typed_then_ask),
        },
    ])
}

pub(crate) static TYPED: session_axum::ControllerRegistration =
    session_axum::ControllerRegistration {
        name: "AuthTyped",
        base_path: "/auth-typed",
        routes: typed_routes,
    };

/// The test app with the typed-handle routes of [`TYPED`].
async fn start_typed() -> crate::app::TestApp {
    crate::app::start_with(session_axum::SigningKeys::single(crate::app::key(1)), |b| {
        b.controller(&TYPED)
    })
    .await
}

#[tokio::test]
async fn a_logout_through_the_session_handle_ends_the_requests_principal() {
    let t = start_typed().await;
    let mut b = t.server.browser();
    b.post("/t/login?user=ada").await;
    let r = b.post("/auth-typed/destroy").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.cookie("sid").and_then(|c| c.max_age),
        Some(0),
        "logged out"
    );
    assert!(t.service.list_for_user("ada").await.unwrap().is_empty());
    assert_eq!(
        r.json(),
        serde_json::json!({"authenticated": false, "principal": null}),
        "the session is destroyed, yet Auth still reports its user"
    );
}

/// A login through the typed handle that keeps the user but changes the
/// binding (a role switch dropping `admin`, say): the request's principal
/// follows the new binding, as after `Auth::login` with the same binding.
async fn relogin_typed_then_ask(
    mut session: session_axum::Session<session_tests::profile::Counters>,
    auth: session_axum::Auth,
) -> axum::Json<serde_json::Value> {
    let user = auth.principal().expect("logged in").user_id;
    session.login(session_axum::Binding::user(user));
    let principal = auth.principal().expect("still logged in");
    axum::Json(serde_json::json!({
        "user": principal.user_id,
        "permissions": principal.permissions,
        "session_id": principal.session_id.map(|id| id.to_string()),
        "new_id": auth.session_id().map(|id| id.to_string()),
    }))
}

#[tokio::test]
async fn a_typed_login_of_the_same_user_gives_the_principal_the_new_binding() {
    let t = start_typed().await;
    let mut b = t.server.browser();
    b.post("/t/login?user=ada&perm=admin").await;
    assert_eq!(b.get("/t/admin").await.status, 200);
    let r = b.post("/auth-typed/relogin").await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The session itself is now bound without `admin`.
    assert_eq!(b.get("/t/admin").await.status, 403, "stored binding");
    assert_eq!(
        r.json()["permissions"],
        serde_json::json!([]),
        "after the typed login, the principal still holds the old binding's permissions: {}",
        r.body
    );
}

/// A logout that loaded the session before a rotation of it (a privilege
/// change in another request of the same session) finished, and deletes it
/// after: the rotation moved the session to a new id meanwhile, so the
/// logout's delete finds nothing, and it must follow the move, or it
/// answers 204 and clears the cookie while the session lives on under the
/// id the rotation's response handed out. The other order is covered (a
/// rotation never brings back a session a logout or revocation removed).
/// (Its window is a logout handler's work before `Auth::logout`: an audit
/// write or a call to an identity provider, say.)
#[tokio::test]
async fn a_logout_racing_a_rotation_of_its_session_still_ends_the_session() {
    use axum::routing::post;
    use session_axum::{Auth, Session};
    use session_tests::profile::Counters;
    static LOADED: tokio::sync::Notify = tokio::sync::Notify::const_new();
    static GO: tokio::sync::Notify = tokio::sync::Notify::const_new();
    async fn logout_after_audit(auth: Auth) -> axum::response::Response {
        use axum::response::IntoResponse as _;
        LOADED.notify_one();
        GO.notified().await;
        auth.logout().await.into_response()
    }
    async fn rotate(mut session: Session<Counters>) -> axum::http::StatusCode {
        session.rotate().expect("a stored session to move");
        axum::http::StatusCode::NO_CONTENT
    }
    let t = crate::app::start_with(session_core::SigningKeys::single(crate::app::key(1)), |b| {
        b.merge(
            axum::Router::new()
                .route("/x/logout-after-audit", post(logout_after_audit))
                .route("/x/rotate", post(rotate)),
        )
    })
    .await;
    let mut b = t.server.browser();
    assert_eq!(b.post("/t/login?user=ada").await.status, 204);
    assert_eq!(b.get("/t/me").await.status, 200);

    let mut logging_out = t.server.browser();
    logging_out.jar = b.jar.clone();
    let logout = tokio::spawn(async move { logging_out.post("/x/logout-after-audit").await });
    LOADED.notified().await;
    let rotated = b.post("/x/rotate").await;
    assert_eq!(rotated.status, 204, "{}", rotated.body);
    let moved_to = rotated
        .cookie("sid")
        .expect("the rotation's cookie")
        .value
        .clone();
    GO.notify_one();
    let logout = logout.await.unwrap();
    assert_eq!(logout.status, 204, "{}", logout.body);
    assert_eq!(logout.cookie("sid").and_then(|c| c.max_age), Some(0));

    let mut replay = t.server.browser();
    replay.jar.insert("sid".into(), moved_to);
    assert_eq!(
        replay.get("/t/me").await.status,
        401,
        "the session the logout answered 204 for is still logged in under its rotated id"
    );
    assert!(
        t.service.list_for_user("ada").await.unwrap().is_empty(),
        "ada's session outlived her logout"
    );
}

/// Someone logs in as themselves and plants that session's cookie in the
/// victim's browser (a sibling subdomain can set it). The victim logs in
/// over it; the planter, still holding the old cookie, logs out within the
/// move's grace. The logout must not follow the move into the victim's
/// login: the marker names the new id only when the same user stays
/// logged in. A planted id must gain nothing.
#[tokio::test]
async fn a_logout_with_a_planted_cookie_does_not_log_out_the_user_who_logged_in_over_it() {
    let t = start().await;
    let mut attacker = t.server.browser();
    assert_eq!(attacker.post("/t/login?user=mallory").await.status, 204);

    let mut victim = t.server.browser();
    victim.jar = attacker.jar.clone();
    assert_eq!(victim.post("/t/login?user=roger").await.status, 204);
    assert_eq!(victim.get("/t/me").await.json()["user_id"], "roger");

    assert_eq!(attacker.post("/t/logout").await.status, 204);

    let me = victim.get("/t/me").await;
    assert_eq!(
        me.status, 200,
        "the planter's logout ended the victim's session"
    );
}

/// A flash set after the logout reaches the browser's next request, in a
/// new anonymous session: the logged-out one is gone server-side, its
/// token loads nothing, and the new cookie carries the message.
#[tokio::test]
async fn a_notice_flashed_after_a_logout_is_shown_on_the_next_request() {
    let t = start_typed().await;
    let mut b = t.server.browser();
    b.post("/t/login?user=ada").await;
    let old = b.jar["sid"].clone();
    let r = b.post("/auth-typed/logout-with-notice").await;
    assert_eq!(r.status, 204, "{}", r.body);
    let set = r.cookie("sid").expect("the new session's cookie");
    assert_ne!(set.max_age, Some(0), "set, not cleared");
    assert_ne!(b.jar["sid"], old);
    assert!(t.service.list_for_user("ada").await.unwrap().is_empty());

    let r = b.get("/auth-typed/notice").await;
    assert_eq!(
        r.json(),
        serde_json::json!({"notice": "signed out", "authenticated": false})
    );
    let r = b.get("/auth-typed/notice").await;
    assert_eq!(r.json()["notice"], serde_json::Value::Null, "shown once");

    let mut replay = t.server.browser();
    replay.jar.insert("sid".into(), old);
    assert_eq!(
        replay.get("/t/me").await.status,
        401,
        "the old token is dead"
    );
}

/// A bearer client's logout that flashes afterwards still logs out and
/// answers as a logout: no session is started for a token nobody could be
/// handed, and no 401 for it.
#[tokio::test]
async fn a_bearer_clients_logout_that_flashes_after_it_answers_as_a_logout() {
    let t = start_typed().await;
    let mut api = t.server.browser();
    let r = api.post("/t/token?user=bot").await;
    api.bearer = Some(r.json()["token"].as_str().unwrap().to_owned());
    let before = t.store.inner().len();
    let r = api.post("/auth-typed/logout-with-notice").await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert!(r.set_cookies.is_empty(), "{:?}", r.set_cookies);
    assert_eq!(
        t.store.inner().len(),
        before - 1,
        "deleted, nothing created"
    );
    assert_eq!(api.get("/t/me").await.status, 401);
}

/// A logout ends the login whatever the request writes after it. With the
/// cookie store the cookie is the session: when what was written after the
/// logout does not fit a cookie (too large to seal, or to set with its
/// attributes), the response must still clear the logged-in cookie, not
/// fail leaving it to the browser, still valid.
#[tokio::test]
async fn on_the_cookie_store_a_logout_whose_later_write_does_not_fit_still_ends_the_login() {
    let app = session_axum::App::builder()
        .store(session_core::CookieStore::signed())
        .keys(&session_axum::SigningKeys::single(crate::app::key(1)))
        .secure(false)
        .cookie_name("sid")
        .expiry(crate::app::policy())
        .controller(&TYPED)
        .merge(axum::Router::new())
        .build()
        .unwrap();
    let server = session_tests::http::TestServer::start(app.into_router()).await;
    // Too large to seal, and (around 2,900 bytes) sealed but too large to
    // set with the cookie's attributes.
    for n in std::iter::once(6000).chain((2700..3100).step_by(8)) {
        let mut b = server.browser();
        b.post("/t/login?user=ada").await;
        assert_eq!(b.get("/t/me").await.status, 200);
        let logged_in = b.jar["sid"].clone();
        let r = b.post(&format!("/auth-typed/logout-then-big?n={n}")).await;
        assert_ne!(
            b.jar.get("sid"),
            Some(&logged_in),
            "n = {n}: the logout answered {} and left the logged-in cookie ({})",
            r.status,
            r.body
        );
        assert_eq!(b.get("/t/me").await.status, 401, "n = {n}");
    }
}

/// The create of the session a flash after a logout starts fails (a store
/// outage right after the delete): the logout happened all the same (the
/// session is deleted), and answers as one, clearing the cookie; only the
/// notice is lost.
#[tokio::test]
async fn a_logout_whose_notice_cannot_be_stored_still_answers_as_a_logout() {
    let t = start_typed().await;
    let mut b = t.server.browser();
    b.post("/t/login?user=ada").await;
    t.store.fail_creates(true);
    let r = b.post("/auth-typed/logout-with-notice").await;
    t.store.fail_creates(false);
    assert!(t.service.list_for_user("ada").await.unwrap().is_empty());
    assert_eq!(r.status, 204, "the logout happened: {}", r.body);
    assert_eq!(
        r.cookie("sid").and_then(|c| c.max_age),
        Some(0),
        "the dead cookie is cleared"
    );
}

/// A browser's request that hands out a bearer token, then logs out and
/// flashes the notice: the logout dropped the bearer login, and the cookie
/// session is gone. The notice's new session must reach the browser in the
/// cookie, not be stored where no client can reach it while the cookie is
/// cleared.
#[tokio::test]
async fn a_notice_after_a_bearer_login_and_a_logout_reaches_the_browser() {
    let t = start_typed().await;
    let mut b = t.server.browser();
    b.post("/t/login?user=ada").await;
    let r = b.post("/auth-typed/token-then-logout-with-notice").await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert!(t.service.list_for_user("ada").await.unwrap().is_empty());
    assert!(t.service.list_for_user("api").await.unwrap().is_empty());
    let stored = t.store.inner().len();
    let r = b.get("/auth-typed/notice").await;
    assert_eq!(
        r.json(),
        serde_json::json!({"notice": "signed out", "authenticated": false}),
        "{stored} session(s) stored, cookie jar {:?}",
        b.jar
    );
}

/// An app holding users to two sessions: a third browser's login ends the
/// least recently used one, whose cookie then finds no user; a cookie
/// store has no per-user index, and the app does not build.
#[tokio::test]
async fn a_login_past_the_per_user_limit_logs_out_the_least_recently_used_browser() {
    let t = crate::app::start_with(SigningKeys::single(crate::app::key(1)), |b| {
        b.max_sessions_per_user(2)
    })
    .await;
    let mut browsers = Vec::new();
    for _ in 0..3 {
        let mut b = t.server.browser();
        assert_eq!(b.post("/t/login?user=ada").await.status, 204);
        t.clock.advance(std::time::Duration::from_secs(60));
        browsers.push(b);
    }
    let statuses = [
        browsers[0].get("/t/me").await.status,
        browsers[1].get("/t/me").await.status,
        browsers[2].get("/t/me").await.status,
    ];
    assert_eq!(statuses, [401, 200, 200]);
    assert_eq!(t.service.list_for_user("ada").await.unwrap().len(), 2);

    let built = App::builder()
        .store(session_core::CookieStore::signed())
        .secret(crate::app::key(1))
        .max_sessions_per_user(2)
        .build();
    let Err(error) = built else {
        panic!("built, but a cookie store keeps no per-user index");
    };
    assert!(error.to_string().contains("per-user index"), "{error}");
}

/// `App::cookie_for`: a session made outside any request (a test logging
/// its user in) is carried by the cookie it names, under the app's cookie
/// name, through a real server.
#[tokio::test]
async fn the_cookie_an_app_names_for_a_session_logs_its_user_in() {
    let app = App::builder()
        .store(session_core::MemoryStore::new())
        .secret(session_core::Key::generate())
        .secure(false)
        .cookie_name("custom")
        .build()
        .unwrap();
    let id = app
        .service()
        .create_session(session_core::Binding::user("ada"))
        .await
        .unwrap();
    let cookie = app.cookie_for(&id);
    let (name, value) = cookie.split_once('=').unwrap();
    assert_eq!(name, "custom");
    let server = session_tests::http::TestServer::start(app.into_router()).await;
    let mut b = server.browser();
    assert_eq!(b.get("/t/me").await.status, 401);
    b.jar.insert(name.into(), value.into());
    let r = b.get("/t/me").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["user_id"], "ada");
}

async fn revoke_device(
    browser: &mut session_tests::http::Browser,
    handle: &str,
) -> session_tests::http::Reply {
    let path = format!("/t/devices/{handle}");
    browser.send(reqwest::Method::DELETE, &path, None).await
}

/// `Auth::sessions` and `Auth::revoke`: a page of the user's sessions that
/// shows handles, never ids, and revokes by them.
#[tokio::test]
async fn sessions_are_listed_by_handle_and_revoked_by_it() {
    let t = start().await;
    let mut laptop = t.server.browser();
    laptop.post("/t/login?user=ada").await;
    // Later, so the listing's order is the logins' (the clock is frozen).
    t.clock.advance(std::time::Duration::from_secs(1));
    let mut phone = t.server.browser();
    phone.post("/t/login?user=ada").await;
    let mut desk = t.server.browser();
    desk.post("/t/login?user=roger").await;

    let listed = laptop.get("/t/devices").await;
    assert_eq!(listed.status, 200);
    let devices = listed.json();
    let devices = devices.as_array().unwrap();
    assert_eq!(devices.len(), 2);
    let current: Vec<_> = devices.iter().map(|d| d["current"] == true).collect();
    assert_eq!(
        current,
        [false, true],
        "the phone used last, the laptop asking"
    );
    for id in t.service.list_for_user("ada").await.unwrap() {
        assert!(!listed.body.contains(&id.id.to_string()), "no id shown");
    }

    // Another user's handle names nothing of this user's.
    let roger = desk.get("/t/devices").await.json()[0]["handle"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = revoke_device(&mut laptop, &roger).await;
    assert_eq!(r.status, 404);
    assert_eq!(desk.get("/t/me").await.status, 200);

    // Text that is no handle: the path is refused.
    let r = revoke_device(&mut laptop, "nope").await;
    assert_eq!(r.status, 400);

    let phone_handle = devices[0]["handle"].as_str().unwrap();
    let r = revoke_device(&mut laptop, phone_handle).await;
    assert_eq!(r.status, 204);
    assert_eq!(phone.get("/t/me").await.status, 401);
    assert_eq!(laptop.get("/t/me").await.status, 200);
    let r = revoke_device(&mut laptop, phone_handle).await;
    assert_eq!(r.status, 404, "already gone");
}

#[tokio::test]
async fn revoking_the_own_session_by_handle_logs_out() {
    let t = start().await;
    let mut laptop = t.server.browser();
    laptop.post("/t/login?user=ada").await;
    let own = laptop.get("/t/devices").await.json()[0]["handle"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = revoke_device(&mut laptop, &own).await;
    assert_eq!(r.status, 204);
    assert_eq!(
        r.cookie("sid").and_then(|c| c.max_age),
        Some(0),
        "the cookie is cleared"
    );
    assert!(t.service.list_for_user("ada").await.unwrap().is_empty());
    assert_eq!(laptop.get("/t/me").await.status, 401);
}

#[tokio::test]
async fn listing_or_revoking_sessions_needs_a_principal() {
    let t = start().await;
    let mut ada = t.server.browser();
    ada.post("/t/login?user=ada").await;
    let handle = ada.get("/t/devices").await.json()[0]["handle"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut b = t.server.browser();
    b.get("/t/visit").await;
    assert_eq!(b.get("/t/devices").await.status, 401);
    let r = revoke_device(&mut b, &handle).await;
    assert_eq!(r.status, 401);
    assert_eq!(ada.get("/t/me").await.status, 200);
}

/// `Guard::layer` on a group of plain axum routes merged into the app.
#[tokio::test]
async fn a_guard_layer_covers_a_group_of_plain_routes() {
    use axum::Router;
    use axum::routing::get;
    let t = crate::app::start_with(session_core::SigningKeys::single(crate::app::key(1)), |b| {
        b.merge(
            Router::new()
                .route("/ops/users", get(|| async { "users" }))
                .route("/ops/logs", get(|| async { "logs" }))
                .route_layer(session_axum::Guard::permissions(&["admin"]).layer()),
        )
    })
    .await;
    let mut anonymous = t.server.browser();
    let mut ada = t.server.browser();
    ada.post("/t/login?user=ada").await;
    let mut root = t.server.browser();
    root.post("/t/login?user=root&perm=admin").await;
    for path in ["/ops/users", "/ops/logs"] {
        assert_eq!(anonymous.get(path).await.status, 401, "{path}");
        assert_eq!(ada.get(path).await.status, 403, "{path}");
        assert_eq!(root.get(path).await.status, 200, "{path}");
    }
    assert_eq!(
        root.get("/ops/none").await.status,
        404,
        "no route, no guard"
    );
}

/// A role given or taken away holds from the browser's next request, with
/// the cookie it has: no logout, no new login.
#[tokio::test]
async fn permissions_set_on_a_users_live_sessions_hold_from_their_next_request() {
    let t = crate::app::start().await;
    let mut b = t.server.browser();
    assert_eq!(b.post("/t/login?user=alice").await.status, 204);
    assert_eq!(b.get("/t/admin").await.status, 403);
    assert_eq!(
        t.service.set_permissions("alice", ["admin"]).await.unwrap(),
        1
    );
    let r = b.get("/t/admin").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.set_cookies.is_empty(), "the same session: {r:?}");
    assert_eq!(
        t.service
            .set_permissions("alice", Vec::<String>::new())
            .await
            .unwrap(),
        1
    );
    assert_eq!(b.get("/t/admin").await.status, 403);
    assert_eq!(
        b.get("/t/me").await.json()["user_id"],
        "alice",
        "still logged in"
    );
}
