//! astro-session's login workflow (form, error flash shown once) and an API
//! login handing out a bearer token (authsessions).

use std::time::Duration;

use axum::Extension;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Form, FromRequest, Query, Request};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use http_body_util::Limited;
use serde::Deserialize;
use session_axum::prelude::*;
use session_axum::{LoggedIn, local_redirect, with_next};

use crate::data::{Account, Visits};
use crate::throttle::{LoginThrottle, Throttled};
use crate::users::{PasswordChecks, User};

/// The login form's fields. A field left out is an empty one, so it fails
/// the credentials check like a wrong password (astro-session's sample
/// passes what the form lacks on to `validateCredentials`). astro-session's
/// form names the user `email`.
#[derive(Debug, Deserialize)]
pub struct Credentials {
    #[serde(default, alias = "email")]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    label: Option<String>,
    /// The login form's "Remember me" box: sent (as `on`) only when checked.
    #[serde(default)]
    remember: Option<String>,
    /// The page a browser was sent to the login from, to go back to.
    #[serde(default)]
    next: Option<String>,
}

/// `GET /login`'s query: the page that sent the browser here (see
/// `AppBuilder::login_page`).
#[derive(Debug, Deserialize)]
pub struct NextPage {
    #[serde(default)]
    next: Option<String>,
}

/// `next` when the login may send the browser there.
fn next_page(next: Option<&str>) -> Option<&str> {
    next.and_then(local_redirect)
}

/// The login page, passing `next` on when there is one.
fn login_page(next: Option<&str>) -> String {
    next_page(next).map_or_else(|| "/login".to_owned(), |next| with_next("/login", next))
}

impl Credentials {
    /// Whether the user name or the password is longer than a login takes.
    fn too_long(&self) -> bool {
        self.username.len() > MAX_USERNAME_BYTES || self.password.len() > MAX_PASSWORD_BYTES
    }
}

/// The largest body a login request may send, in bytes: room for the
/// longest user name, password and label, percent-encoded, while a client
/// cannot make a login buffer more (axum's default would be 2 MB). A larger
/// body is refused with 413.
pub const MAX_LOGIN_BODY_BYTES: usize = 8 * 1024;

/// The longest user name a login takes, in bytes.
pub const MAX_USERNAME_BYTES: usize = 256;

/// The longest password a login takes, in bytes. A longer one is refused
/// before it is hashed: argon2 reads all of it, and no user's password is
/// that long.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// The extractor `E` reading at most [`MAX_LOGIN_BODY_BYTES`] of the
/// request body; beyond that, `E`'s rejection for a body over its limit
/// (413 for `Form` and `Json`).
#[derive(Debug)]
pub struct Bounded<E>(pub E);

impl<S, E> FromRequest<S> for Bounded<E>
where
    S: Send + Sync,
    E: FromRequest<S>,
{
    type Rejection = E::Rejection;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        // Under axum's own limit the tighter of the two applies.
        let request = request.map(|body| Body::new(Limited::new(body, MAX_LOGIN_BODY_BYTES)));
        E::from_request(request, state).await.map(Self)
    }
}

/// What the login page shows after a form login with an over-long user
/// name or password. The form's `maxlength` counts characters and the
/// bounds count bytes, so a browser may send a name of fewer characters that
/// is still too long.
pub const TOO_LONG_MESSAGE: &str = "Username or password too long";

/// What the login page shows after a form login refused because its user
/// name had too many failed attempts (see [`crate::throttle`]).
pub const THROTTLED_MESSAGE: &str = "Too many failed logins: try again later";

/// What a login needs to check credentials: the bound on password hashes
/// and the failed-login throttle, given to the app once and shared.
#[derive(Debug, Clone)]
pub struct LoginChecks {
    /// The password checks.
    pub passwords: PasswordChecks,
    /// The failed-login throttle.
    pub throttle: LoginThrottle,
}

impl LoginChecks {
    /// The user `name` and `password` log in as, if any; an error, with no
    /// password hashed, when the name had too many failed attempts.
    async fn check(&self, name: String, password: String) -> Result<Option<User>, Throttled> {
        // Counted once the check has its hash slot: requests dropped while
        // they waited count nothing, so pushing a refused name out of the
        // throttle's table costs a hash per attempt.
        let throttle = &self.throttle;
        let counted = name.clone();
        let user = self
            .passwords
            .check_admitted(name, password, || throttle.attempt(&counted))
            .await?;
        match &user {
            Some(user) => self.throttle.succeeded(user.name),
            // Neither the name nor the password: a password typed into the
            // name field, or another account's, is a secret too.
            None => tracing::info!("login refused: wrong user name or password"),
        }
        Ok(user)
    }
}

/// `GET /login`, `POST /login` (and astro-session's `POST /api/login`),
/// `POST /logout`, `GET /dashboard`, `POST /api/token`.
pub struct Login;

/// The longest device label a login keeps, in characters. The label comes
/// from the client and is stored with the session, so it is bounded: a
/// longer one is cut, as the form's `maxlength` cuts it in a browser.
pub const MAX_LABEL_CHARS: usize = 100;

/// How long a login with "Remember me" checked lives between visits
/// (others live the app's six hours, in a cookie the browser drops when it
/// closes).
pub const REMEMBERED_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);

/// The longest a login with "Remember me" checked lives, however often it
/// is used: then it asks for the password again.
pub const REMEMBERED_AT_MOST: Duration = Duration::from_secs(90 * 24 * 3600);

/// A "Remember me" box: `None` where the form has none (the app's
/// settings apply), else whether it was checked.
#[derive(Debug, Clone, Copy)]
struct Remember(Option<bool>);

fn binding(user: &User, label: Option<String>, remember: Remember) -> Binding {
    let mut binding = Binding::user(user.name).with_permissions(user.permissions.iter().copied());
    if let Remember(Some(checked)) = remember {
        binding = binding.with_cookie_lifetime(CookieLifetime::remember_me(checked));
        if checked {
            binding = binding
                .with_lifetime(REMEMBERED_LIFETIME)
                .with_absolute(REMEMBERED_AT_MOST);
        }
    }
    match label.filter(|l| !l.trim().is_empty()) {
        Some(label) => binding.with_label(bounded(label)),
        None => binding,
    }
}

/// `label` cut to [`MAX_LABEL_CHARS`] characters.
fn bounded(mut label: String) -> String {
    if let Some((end, _)) = label.char_indices().nth(MAX_LABEL_CHARS) {
        tracing::debug!(
            bytes = label.len(),
            "login label cut to {MAX_LABEL_CHARS} characters"
        );
        // `end` starts a character: the cut keeps whole characters.
        label.truncate(end);
    }
    label
}

/// The session data both logins set next to the binding.
fn mark_signed_in(account: &mut Session<Account>, user: &User) {
    account.set_auth(true);
    account.set_group_id(Some(user.group.to_owned()));
}

/// `302 Found` to `location`, the status astro-session's sample answers with.
fn found(location: &str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, location.to_owned())]).into_response()
}

/// A form login: on success `302` to the form's `next` page, or else
/// `success`; on failure `302` to `/login` (passing `next` on) with the
/// error flashed (a name with too many failed attempts fails alike, with
/// its own message). A client that sent a bearer token gets
/// its new one instead (its login moves the bearer session, with no cookie).
/// An over-long user name or password fails alike, with its own message,
/// before any hashing.
async fn form_login(
    mut account: Session<Account>,
    auth: Auth,
    checks: &LoginChecks,
    form: Credentials,
    remember: Remember,
    success: &'static str,
) -> Result<Response, SessionRejection> {
    let next = form.next.as_deref();
    if form.too_long() {
        tracing::debug!("form login refused: username or password too long");
        return refused(&mut account, TOO_LONG_MESSAGE, next);
    }
    let user = match checks.check(form.username, form.password).await {
        Ok(Some(user)) => user,
        Ok(None) => return refused(&mut account, "Invalid username or password", next),
        Err(_) => return refused(&mut account, THROTTLED_MESSAGE, next),
    };
    let logged_in = auth.login(binding(&user, form.label, remember));
    mark_signed_in(&mut account, &user);
    Ok(match logged_in.token {
        Some(_) => logged_in.into_response(),
        None => found(next_page(next).unwrap_or(success)),
    })
}

/// A refused form login: `message` flashed, shown once by the login page.
fn refused(
    account: &mut Session<Account>,
    message: &str,
    next: Option<&str>,
) -> Result<Response, SessionRejection> {
    account.flash("error", message)?;
    Ok(found(&login_page(next)))
}

/// A token endpoint's error (RFC 6749 §5.2): 400 with the error code and a
/// description that names no user.
fn token_error(error: &'static str, description: &'static str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(serde_json::json!({"error": error, "error_description": description})),
    )
        .into_response()
}

/// The token endpoint's answer to a name with too many failed attempts:
/// 429 with `Retry-After` (RFC 6585 §4), the end of the name's window.
fn token_throttled(throttled: Throttled) -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(
            header::RETRY_AFTER,
            throttled.retry_after_secs().to_string(),
        )],
        Json(serde_json::json!({
            "error": "too_many_attempts",
            "error_description": "too many failed logins: try again later",
        })),
    )
        .into_response()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[controller("/")]
impl Login {
    #[get("/login")]
    async fn form(
        mut session: Session<Visits>,
        principal: Option<Principal>,
        // A query that does not parse is no `next`, not a 400.
        page: Result<Query<NextPage>, QueryRejection>,
    ) -> Response {
        let page = page.map(|Query(page)| page).ok();
        let next = next_page(page.as_ref().and_then(|p| p.next.as_deref()));
        // Already logged in: straight on, as astro-session's sample does.
        if principal.is_some() {
            return found(next.unwrap_or("/me"));
        }
        let next_field = next
            .map(|n| {
                format!(
                    "<input type=\"hidden\" name=\"next\" value=\"{}\">\n",
                    escape(n)
                )
            })
            .unwrap_or_default();
        let error = session
            .take_flash::<String>("error")
            .map(|e| format!("<p class=\"error\">{}</p>\n", escape(&e)))
            .unwrap_or_default();
        let notice = session
            .take_flash::<String>("notice")
            .map(|n| format!("<p class=\"notice\">{}</p>\n", escape(&n)))
            .unwrap_or_default();
        Html(format!(
            "<!doctype html>\n<title>Log in</title>\n{notice}{error}<form method=\"post\" action=\"/login\">\n\
             <input name=\"username\" maxlength=\"{MAX_USERNAME_BYTES}\" placeholder=\"Username\">\n\
             <input name=\"password\" type=\"password\" maxlength=\"{MAX_PASSWORD_BYTES}\" placeholder=\"Password\">\n\
             <input name=\"label\" maxlength=\"{MAX_LABEL_CHARS}\" placeholder=\"Device name (optional)\">\n\
             <label><input name=\"remember\" type=\"checkbox\"> Remember me</label>\n\
             {next_field}<button type=\"submit\">Log in</button>\n</form>\n"
        ))
        .into_response()
    }

    #[post("/login")]
    async fn submit(
        account: Session<Account>,
        auth: Auth,
        Extension(checks): Extension<LoginChecks>,
        Bounded(Form(form)): Bounded<Form<Credentials>>,
    ) -> Result<Response, SessionRejection> {
        // An unchecked box is not sent.
        let remember = Remember(Some(form.remember.is_some()));
        form_login(account, auth, &checks, form, remember, "/me").await
    }

    /// astro-session's endpoint (`src/routes/api/login.ts`): its form posts
    /// `email` and `password`, and a login goes on to `/dashboard`.
    #[post("/api/login")]
    async fn api_login(
        account: Session<Account>,
        auth: Auth,
        Extension(checks): Extension<LoginChecks>,
        Bounded(Form(form)): Bounded<Form<Credentials>>,
    ) -> Result<Response, SessionRejection> {
        // The seed's form has no such box: the app's settings apply.
        form_login(account, auth, &checks, form, Remember(None), "/dashboard").await
    }

    /// The form login's logout: the session is deleted, and the login page
    /// says so once (the notice lives in a new anonymous session).
    #[post("/logout")]
    async fn logout(
        mut session: Session<Visits>,
        auth: Auth,
    ) -> Result<Response, SessionRejection> {
        auth.logout().await?;
        session.flash("notice", "You have been signed out")?;
        Ok(found("/login"))
    }

    /// astro-session's dashboard: the signed-in user's page, `/me`.
    #[get("/dashboard")]
    async fn dashboard() -> Response {
        found("/me")
    }

    /// A bearer token for an API client. Bad credentials are answered as
    /// an OAuth 2 token endpoint answers them (RFC 6749 §5.2): 400
    /// `invalid_grant`, not a 401, which would need a `WWW-Authenticate`
    /// challenge (RFC 9110 §15.5.2) for credentials that come in the body,
    /// under no authentication scheme. A name with too many failed attempts
    /// gets 429 with `Retry-After`, with no password hashed.
    #[post("/api/token")]
    async fn token(
        mut account: Session<Account>,
        auth: Auth,
        Extension(checks): Extension<LoginChecks>,
        Bounded(Json(form)): Bounded<Json<Credentials>>,
    ) -> Result<LoggedIn, Response> {
        if form.too_long() {
            tracing::debug!("token request refused: username or password too long");
            return Err(token_error(
                "invalid_request",
                "username or password too long",
            ));
        }
        let user = match checks.check(form.username, form.password).await {
            Ok(Some(user)) => user,
            Ok(None) => return Err(token_error("invalid_grant", "invalid username or password")),
            Err(throttled) => return Err(token_throttled(throttled)),
        };
        let logged_in = auth
            .login_bearer(binding(&user, form.label, Remember(None)))
            .map_err(|rejection| {
                (
                    rejection.status(),
                    Json(serde_json::json!({"error": rejection.to_string()})),
                )
                    .into_response()
            })?;
        mark_signed_in(&mut account, &user);
        // `{"token": ..}`, kept out of every cache.
        Ok(logged_in)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::throttle::{LoginThrottle, ThrottleLimits};
    use crate::users::PasswordChecks;

    /// A failed login shows at `info`, without the name or the password
    /// tried (a mistyped password is often another account's).
    #[tokio::test]
    async fn a_failed_login_is_logged_without_the_credentials() {
        let checks = LoginChecks {
            passwords: PasswordChecks::new(1),
            throttle: LoginThrottle::new(
                ThrottleLimits::default(),
                Arc::new(session_core::SystemClock),
            ),
        };
        let (log, _guard) = session_tests::logs::capture();
        let user = checks.check("ada".into(), "typo-secret".into()).await;
        assert!(user.is_ok_and(|u| u.is_none()));
        let text = log.text();
        let line = text
            .lines()
            .find(|l| l.contains(" INFO ") && l.contains("login refused"))
            .unwrap_or_else(|| panic!("no line: {text}"));
        assert!(
            !line.contains("ada") && !line.contains("typo-secret"),
            "{line}"
        );
        let (log, _guard) = session_tests::logs::capture();
        let user = checks.check("ada".into(), "ada-secret".into()).await;
        assert!(user.is_ok_and(|u| u.is_some()));
        assert!(!log.text().contains("login refused"), "{}", log.text());
    }
}
