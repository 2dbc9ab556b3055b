use std::time::Duration;

use axum::Json;
use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use session_core::{Binding, ListedSession, SessionHandle, SessionId, SessionService, Timestamp};

use super::request_session;
use crate::Principal;
use crate::context::{RequestSession, TokenSource};
use crate::error::SessionRejection;

/// Login, logout and the current principal.
///
/// Log out on a `POST` (or another write): the cross-origin check refuses
/// another site's writes, while a `GET` that logs out can be triggered by
/// any page the user visits.
///
/// ```
/// use session_axum::axum::{Form, http::StatusCode, response::{IntoResponse, Redirect}};
/// use session_axum::{Auth, Binding};
///
/// #[derive(serde::Deserialize)]
/// struct Credentials { username: String, password: String, label: String }
/// # fn check(form: &Credentials) -> Option<String> {
/// #     (form.password == "roger-secret").then(|| form.username.clone())
/// # }
///
/// async fn login(auth: Auth, Form(form): Form<Credentials>) -> Result<Redirect, StatusCode> {
///     let user_id = check(&form).ok_or(StatusCode::UNAUTHORIZED)?;
///     auth.login(Binding::user(user_id).with_label(form.label));
///     Ok(Redirect::to("/me"))
/// }
///
/// async fn logout(auth: Auth) -> impl IntoResponse {
///     auth.logout().await
/// }
/// # let _ = session_axum::axum::Router::<()>::new()
/// #     .route("/login", session_axum::axum::routing::post(login))
/// #     .route("/logout", session_axum::axum::routing::post(logout));
/// ```
#[derive(Clone, Debug)]
pub struct Auth {
    pub(super) session: RequestSession,
}

/// The result of [`Auth::login`]. `Debug` never prints the token.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct LoggedIn {
    /// The new session id.
    #[serde(skip)]
    pub session_id: SessionId,
    /// The bearer token for the new session, for clients that send it as
    /// `Authorization: Bearer` ([`Auth::login_bearer`], or a login in a
    /// bearer request). `None` when the token goes out in the `HttpOnly`
    /// cookie, so that a handler answering with this value never shows it to
    /// page scripts, and with a client-side store, whose token is the
    /// sealed session and exists only once the response is sent.
    pub token: Option<String>,
}

impl std::fmt::Debug for LoggedIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoggedIn")
            .field("session_id", &self.session_id)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// The result of [`Auth::logout`]: answers `204 No Content`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoggedOut;

impl IntoResponse for LoggedOut {
    fn into_response(self) -> Response {
        StatusCode::NO_CONTENT.into_response()
    }
}

/// `{"token": "..."}` with `Cache-Control: no-store` (a credential, as
/// OAuth token responses are) for a client that sends the token itself,
/// else `204 No Content` (the cookie carries it).
impl IntoResponse for LoggedIn {
    fn into_response(self) -> Response {
        match self.token {
            Some(token) => (
                [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
                Json(serde_json::json!({ "token": token })),
            )
                .into_response(),
            None => StatusCode::NO_CONTENT.into_response(),
        }
    }
}

impl Auth {
    /// The current principal.
    pub fn principal(&self) -> Option<Principal> {
        self.session.principal()
    }

    /// Whether the request is authenticated.
    pub fn is_authenticated(&self) -> bool {
        self.session.principal().is_some()
    }

    /// Logs the request's client in as `binding.user_id`: the session moves to
    /// a new id (anti-fixation), keeps its data and flash (unless it belonged
    /// to another user), is bound to the user and switches to the full
    /// lifetime (or the binding's own, see [`Binding::with_lifetime`]). The
    /// new record is written and the old one deleted after the handler; the
    /// cookie is set then, with or without `Max-Age` as the binding's
    /// [`CookieLifetime`](crate::CookieLifetime) says (not for bearer
    /// requests: hand them [`LoggedIn::token`]).
    pub fn login(&self, binding: Binding) -> LoggedIn {
        let session_id = self.session.cell().lock().login(binding.clone());
        let bearer = self.session.source() == TokenSource::Bearer;
        self.logged_in(&binding, session_id, bearer)
    }

    /// The request's principal becomes `binding`'s, under `session_id`;
    /// the token is handed over only to a client that sends it itself.
    fn logged_in(&self, binding: &Binding, session_id: SessionId, bearer: bool) -> LoggedIn {
        self.session
            .set_principal(Some(Principal::from_binding(binding, Some(session_id))));
        let service = self.session.service();
        let token = (bearer && service.store().client_side().is_none())
            .then(|| service.token_for(&session_id));
        if token.is_some() {
            // Kept out of shared caches as a cookie response is.
            self.session.hand_out_token();
        }
        LoggedIn { session_id, token }
    }

    /// Like [`login`](Self::login), but sets no cookie: for API clients that
    /// take the token from the response body and send it as `Authorization: Bearer`.
    /// A request that came with a bearer token moves that session; any other
    /// (a browser's cookie session, say) is left as it is, and the token
    /// names a session of its own holding only this request's changes. A
    /// tampered cookie the request came with, or one whose session a logout
    /// in this request deleted, is still cleared (not when the request also
    /// sent `Authorization: Bearer`: such requests never read the cookie).
    /// A logout after this login ends it too; a flash set after that
    /// logout then goes out in the cookie, as after any logout.
    /// [`SessionRejection::Unsupported`], and nothing changes, where bearer
    /// tokens are off: turned off on the app builder
    /// ([`AppBuilder::bearer`](crate::AppBuilder::bearer)), whose app would
    /// refuse the token, or with a client-side store, which cannot hand out
    /// a token before the response is built.
    ///
    /// A later request whose bearer token names no session (expired,
    /// revoked, malformed) and that writes session data is answered 401
    /// `invalid_token`, and nothing is stored: the new session it would
    /// start could only be handed over in a cookie. When an app
    /// [`Authenticator`](crate::Authenticator) accepted the token, the write
    /// is dropped and the response stands.
    pub fn login_bearer(&self, binding: Binding) -> Result<LoggedIn, SessionRejection> {
        // Off too with a client-side store (see `AppBuilder::bearer`).
        if !self.session.config().bearer {
            return Err(SessionRejection::Unsupported);
        }
        self.session.suppress_cookie();
        if self.session.source() == TokenSource::Bearer {
            return Ok(self.login(binding));
        }
        let session_id = self.session.cell().lock().login_apart(binding.clone());
        Ok(self.logged_in(&binding, session_id, true))
    }

    /// Logs out: deletes the session server-side now, and clears the cookie
    /// when the response leaves. The token never loads again, except with a
    /// client-side store ([`CookieStore`](crate::core::CookieStore)), which keeps
    /// nothing to delete: a copy of the cookie stays valid until it expires.
    /// One that a slower response of the same browser sets back, still in
    /// flight when the logout answered, is refused at the next request (see
    /// [`SessionService::check_ended`](crate::core::SessionService::check_ended)).
    /// A flash set after the logout (a "signed out" notice) starts a new
    /// anonymous session holding only it, whose cookie replaces the cleared
    /// one (not for a bearer client, which could not be handed its token).
    pub async fn logout(&self) -> Result<LoggedOut, SessionRejection> {
        let id = {
            let mut state = self.session.cell().lock();
            // Also a record whose data was found invalid or did not decode: it
            // may still hold the login.
            let id = state.stored_id();
            state.destroy();
            id
        };
        if let Some(id) = id {
            self.session.service().destroy_session(&id).await?;
        }
        self.session.set_principal(None);
        Ok(LoggedOut)
    }

    /// The session id the client holds (after a login in this request: the
    /// new one). `None` after a logout, also when a write after it will
    /// start a new session: that one's id is made when it is stored.
    pub fn session_id(&self) -> Option<SessionId> {
        self.session.cell().lock().id()
    }

    /// Revokes every other session of the current user, bearer sessions
    /// included; returns how many went. 401 without a principal.
    pub async fn revoke_others(&self) -> Result<usize, SessionRejection> {
        let principal = self.require()?;
        let keep = self.session.cell().lock().continued_id();
        Ok(self
            .session
            .service()
            .revoke_all(&principal.user_id, keep.as_ref())
            .await?)
    }

    /// The current user's live sessions, most recently used first, for a
    /// page listing them ("your devices"): each named by its
    /// [`SessionHandle`] in place of its id, the request's own marked
    /// `current`, ready to answer as `Json`. 401 without a principal; 501
    /// with a client-side store, which keeps no listing.
    ///
    /// ```
    /// use session_axum::prelude::*;
    /// use session_axum::ListedSession;
    /// use session_axum::axum::{extract::Path, http::StatusCode};
    ///
    /// async fn devices(auth: Auth) -> Result<Json<Vec<ListedSession>>, SessionRejection> {
    ///     Ok(Json(auth.sessions().await?))
    /// }
    ///
    /// async fn sign_out(
    ///     auth: Auth,
    ///     Path(handle): Path<SessionHandle>,
    /// ) -> Result<StatusCode, SessionRejection> {
    ///     Ok(match auth.revoke(&handle).await? {
    ///         true => StatusCode::NO_CONTENT,
    ///         false => StatusCode::NOT_FOUND,
    ///     })
    /// }
    /// # use session_axum::axum::routing::{delete, get};
    /// # let _ = session_axum::axum::Router::<()>::new()
    /// #     .route("/me/sessions", get(devices))
    /// #     .route("/me/sessions/{handle}", delete(sign_out));
    /// ```
    pub async fn sessions(&self) -> Result<Vec<ListedSession>, SessionRejection> {
        let principal = self.require()?;
        let current = self.session_id();
        Ok(self
            .session
            .service()
            .list_with_handles(&principal.user_id, current.as_ref())
            .await?)
    }

    /// Revokes the current user's session that `handle` names (from
    /// [`sessions`](Self::sessions)); `false` when none of theirs has it,
    /// another user's handle included. The request's own session is
    /// logged out, its cookie cleared, as [`logout`](Self::logout) does.
    /// 401 without a principal; 501 with a client-side store.
    pub async fn revoke(&self, handle: &SessionHandle) -> Result<bool, SessionRejection> {
        let principal = self.require()?;
        let service = self.session.service();
        let Some(id) = service.find_by_handle(&principal.user_id, handle).await? else {
            return Ok(false);
        };
        if Some(id) == self.session_id() {
            self.logout().await?;
            return Ok(true);
        }
        Ok(service.revoke(&principal.user_id, &id).await?)
    }

    /// When the session's user logged in: the time the login made the
    /// session (rotations since keep it), this request's for a login in
    /// this request. `None` for an anonymous session, after a logout, and
    /// for a principal an app [`Authenticator`](crate::Authenticator) gave
    /// without a session login.
    pub fn logged_in_at(&self) -> Option<Timestamp> {
        self.session.cell().lock().logged_in_at()
    }

    /// The principal, when its session's login is at most `within` old:
    /// for what should ask for the password again after a while (changing
    /// it, deleting the account, "sudo mode"). Otherwise the 401 of
    /// [`require`](Self::require), also for a principal without a session
    /// login ([`logged_in_at`](Self::logged_in_at) `None`); with
    /// [`AppBuilder::login_page`](crate::AppBuilder::login_page), a
    /// browser's page load goes to the login page and back. Logging in
    /// again makes a new session, whose login is then recent.
    ///
    /// A login page that sends an already logged-in browser straight on
    /// must show its form when it came for a fresh login (with a `next`,
    /// say), or the browser goes round between the two.
    pub fn require_recent_login(&self, within: Duration) -> Result<Principal, SessionRejection> {
        let principal = self.require()?;
        match self.session.logged_in_within(within) {
            true => Ok(principal),
            false => Err(SessionRejection::unauthorized(&self.session)),
        }
    }

    /// The principal, or the 401 rejection (with the `WWW-Authenticate`
    /// challenge of [`SessionRejection::unauthorized`]).
    pub fn require(&self) -> Result<Principal, SessionRejection> {
        self.principal()
            .ok_or_else(|| SessionRejection::unauthorized(&self.session))
    }

    /// The session service.
    pub fn service(&self) -> &SessionService {
        self.session.service()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Auth {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self {
            session: request_session(parts)?,
        })
    }
}
