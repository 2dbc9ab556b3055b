//! astro-session's login workflow (form, error flash shown once) and an API
//! login handing out a bearer token (authsessions).

use axum::extract::Form;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use session_axum::LoggedIn;
use session_axum::prelude::*;

use crate::data::{Account, Visits};
use crate::users::{self, User};

/// The login form's fields.
#[derive(Debug, Deserialize)]
pub struct Credentials {
    username: String,
    password: String,
    #[serde(default)]
    label: Option<String>,
}

/// `GET /login`, `POST /login`, `POST /api/token`.
pub struct Login;

fn binding(user: &User, label: Option<String>) -> Binding {
    let binding = Binding::user(user.name).with_permissions(user.permissions.iter().copied());
    match label.filter(|l| !l.trim().is_empty()) {
        Some(label) => binding.with_label(label),
        None => binding,
    }
}

/// The session data both logins set next to the binding.
fn mark_signed_in(account: &mut Session<Account>, user: &User) {
    account.set_auth(true);
    account.set_group_id(Some(user.group.to_owned()));
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
    async fn form(mut session: Session<Visits>, principal: Option<Principal>) -> Response {
        // Already logged in: straight on, as astro-session's sample does.
        if principal.is_some() {
            return Redirect::to("/me").into_response();
        }
        let error = session
            .take_flash::<String>("error")
            .map(|e| format!("<p class=\"error\">{}</p>\n", escape(&e)))
            .unwrap_or_default();
        Html(format!(
            "<!doctype html>\n<title>Log in</title>\n{error}<form method=\"post\" action=\"/login\">\n\
             <input name=\"username\" placeholder=\"Username\">\n\
             <input name=\"password\" type=\"password\" placeholder=\"Password\">\n\
             <input name=\"label\" placeholder=\"Device name (optional)\">\n\
             <button type=\"submit\">Log in</button>\n</form>\n"
        ))
        .into_response()
    }

    #[post("/login")]
    async fn submit(
        mut account: Session<Account>,
        auth: Auth,
        Form(form): Form<Credentials>,
    ) -> Result<Redirect, SessionRejection> {
        let Some(user) = users::check(form.username, form.password).await else {
            account
                .flash("error", "Invalid username or password")
                .map_err(|_| SessionRejection::Internal)?;
            return Ok(Redirect::to("/login"));
        };
        auth.login(binding(&user, form.label));
        mark_signed_in(&mut account, &user);
        Ok(Redirect::to("/me"))
    }

    #[post("/api/token")]
    async fn token(
        mut account: Session<Account>,
        auth: Auth,
        Json(form): Json<Credentials>,
    ) -> Result<Json<LoggedIn>, (StatusCode, Json<serde_json::Value>)> {
        let Some(user) = users::check(form.username, form.password).await else {
            return Err((
                StatusCode::UNAUTHORIZED,
                Json(serde_json::json!({"error": "invalid credentials"})),
            ));
        };
        let logged_in = auth
            .login_bearer(binding(&user, form.label))
            .map_err(|rejection| {
                (
                    rejection.status(),
                    Json(serde_json::json!({"error": rejection.to_string()})),
                )
            })?;
        mark_signed_in(&mut account, &user);
        Ok(Json(logged_in))
    }
}
