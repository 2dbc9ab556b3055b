//! The [`SessionInterceptor`]: persists the request's session after the handler.

use std::convert::Infallible;
use std::sync::Arc;

use async_trait::async_trait;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::routing::Route;
use session_core::{CookieAction, PersistOutcome, TokenStatus};
use tower::{Service as _, ServiceExt};

use crate::app::{AppContext, BuildError};
use crate::auth::AuthInterceptor;
use crate::context::{RequestSession, TokenSource};
use crate::error::{Challenges, SessionRejection, log_error};
use crate::interceptor::{Interceptor, InterceptorRef, InterceptorRegistration, Next};

/// Runs inside the [`AuthInterceptor`] (it depends on it): after the handler
/// it persists the session the auth interceptor loaded, following the
/// lifecycle rules: nothing on a 5xx response (the handler failed, its
/// half-done changes are dropped), a 503 when the store fails, and a
/// `Set-Cookie` only when the session is new, rotated, refreshed, re-signed or
/// destroyed. A response that sets or clears the cookie, or follows a login
/// that handed out a bearer token, is kept out of shared caches; one that
/// read the session and says nothing of caching is made `private`. Both
/// say `Vary: Cookie`.
#[derive(Debug, Default)]
pub struct SessionInterceptor;

impl SessionInterceptor {
    /// Persists the request's session and sets or clears the cookie on
    /// `response`, then marks a response that read the session (an
    /// extractor, a guard) as depending on it.
    pub(crate) async fn finish(session: &RequestSession, response: Response) -> Response {
        let mut response = Self::persist(session, response).await;
        if session.was_read() {
            crate::cache_control::depends_on_session(response.headers_mut());
        }
        response
    }

    async fn persist(session: &RequestSession, mut response: Response) -> Response {
        if response.status().is_server_error() {
            tracing::debug!(status = %response.status(), "not persisting the session of a failed request");
            return response;
        }
        // Read-only requests: nothing to write, no cookie to send, no future to build.
        if session.cell().lock().try_settle() {
            return response;
        }
        if session.source() == TokenSource::Bearer && Self::undeliverable(session) {
            // An app authenticator that took the token (an API key, say)
            // answered for the request: its response stands.
            if session.authenticated_by_app() {
                return response;
            }
            // `invalid_token`: the request came with a bearer token.
            return SessionRejection::unauthorized(session).into_response();
        }
        // Boxed: read-only requests, the most frequent, skip this step, and
        // their futures should not carry room for it.
        let persisted = match Box::pin(session.service().persist(session.cell())).await {
            Ok(persisted) => {
                // Its id was made as it was stored; the state knows the others'.
                if let (PersistOutcome::Created, Some(id)) = (persisted.outcome, persisted.id) {
                    session.set_persisted(id);
                }
                persisted
            }
            Err(error) => {
                let rejection = SessionRejection::from(&error);
                let stored = session.cell().lock().record().map(|r| r.id);
                log_error(&error, rejection, stored);
                return rejection.into_response();
            }
        };
        let cookie = if session.cookie_suppressed() {
            // Bearer clients carry their token themselves. A bearer login
            // from a browser leaves its cookie session as it is, but a
            // tampered cookie it came with, or one whose session a logout
            // deleted, is cleared as on any response.
            let state = session.cell().lock();
            let stale = state.token_status() == TokenStatus::Rejected || state.logged_out();
            if session.source() == TokenSource::Bearer || !stale {
                // A token in the body is as much the client's own as one in
                // a cookie: no CDN directive of the app's may share it.
                if session.token_handed_out() {
                    crate::cache_control::keep_private(response.headers_mut());
                }
                return response;
            }
            match persisted.outcome {
                // A logout after the bearer login dropped it: the session
                // a write after the logout started goes out in the cookie,
                // as on any response (else it is stored out of reach).
                PersistOutcome::Destroyed => persisted.cookie,
                _ => CookieAction::Clear,
            }
        } else {
            persisted.cookie
        };
        let now = session.cell().lock().now();
        let mut cookie = cookie;
        let mut applied = session
            .config()
            .cookie
            .apply(&cookie, now, response.headers_mut());
        if let (Err(size), PersistOutcome::Destroyed) = (applied, persisted.outcome) {
            // A logout stands whatever was written after it: the cookie
            // (with a client-side store, the logged-out session itself)
            // is cleared, and the new session dropped.
            tracing::error!(
                size,
                "the session written after a logout is too large for a cookie; it is dropped, the cookie cleared"
            );
            cookie = CookieAction::Clear;
            applied = session
                .config()
                .cookie
                .apply(&cookie, now, response.headers_mut());
        }
        if let Err(size) = applied {
            if matches!(
                persisted.outcome,
                PersistOutcome::Refreshed | PersistOutcome::Seen | PersistOutcome::Unchanged
            ) {
                // No data changed: the client's cookie still holds it all.
                tracing::warn!(
                    size,
                    "session cookie too large to refresh; the client keeps the one it has"
                );
                return response;
            }
            tracing::error!(
                size,
                limit = session_core::store::cookie::MAX_COOKIE_BYTES,
                "session cookie too large for browsers; the response fails without it"
            );
            return SessionRejection::TooLarge.into_response();
        }
        // `Keep` sends nothing.
        if let Some(ended) = &session.config().ended_cookie
            && let Err(size) = ended.apply(&persisted.ended, now, response.headers_mut())
        {
            tracing::warn!(size, "the ended-sessions cookie is too large; not sent");
        }
        if !matches!(cookie, CookieAction::Keep) || !matches!(persisted.ended, CookieAction::Keep) {
            crate::cache_control::keep_private(response.headers_mut());
            crate::cache_control::vary_by_cookie(response.headers_mut());
        }
        response
    }

    /// A bearer request whose token names no session, writing to one: a new
    /// session's token could only go out in a cookie, which such a client
    /// does not keep, so its changes are dropped (rather than stored where
    /// nobody can reach them). Without a principal, the client is then told
    /// its token is no good (RFC 6750) rather than told they were saved.
    fn undeliverable(session: &RequestSession) -> bool {
        let mut state = session.cell().lock();
        if !state.starts_anonymous_session() {
            return false;
        }
        state.discard();
        tracing::info!(
            token = ?state.token_status(),
            by_app = session.authenticated_by_app(),
            "a bearer request without a session of its own wrote session data; nothing stored"
        );
        true
    }
}

#[async_trait]
impl Interceptor for SessionInterceptor {
    async fn intercept(&self, request: Request, next: Next) -> Response {
        let Some(session) = request.extensions().get::<RequestSession>().cloned() else {
            tracing::error!("SessionInterceptor ran without the AuthInterceptor's session context");
            return SessionRejection::MissingLayer.into_response();
        };
        let _settle = session.settle_on_drop();
        let response = next.run(request).await;
        Self::finish(&session, response).await
    }
}

/// [`AuthInterceptor`] and [`SessionInterceptor`] in one step, used when
/// nothing is ordered between them: the same behaviour with one frame less
/// per request.
pub(crate) struct AuthThenSession {
    pub(crate) auth: AuthInterceptor,
    /// The app's own realm's challenges (`None`: the default realm), put in
    /// when this step is the whole chain ([`around`](Self::around)).
    pub(crate) challenges: Option<Arc<Challenges>>,
}

impl AuthThenSession {
    /// Both steps around `route`, when nothing else runs between them and the
    /// route. The steps of [`AuthInterceptor::admit`] are spelled out here so
    /// that the request is held once in this future rather than again in a
    /// nested one.
    pub(crate) async fn around(
        this: Arc<Self>,
        mut request: Request,
        mut route: Route,
    ) -> Result<Response, Infallible> {
        let (loading, bearer) = this.auth.load(request.headers());
        let cell = match loading.await {
            Ok(cell) => cell,
            Err(error) => return Ok(AuthInterceptor::reject(error)),
        };
        // Borrowed, not moved through: the request is large.
        let session = match this.auth.admitted(&mut request, cell, bearer).await {
            Ok(session) => session,
            Err(response) => return Ok(response),
        };
        let _settle = session.settle_on_drop();
        // `call` after `ready` rather than `oneshot`, which would move the
        // request into its own state first.
        let response = ServiceExt::<Request>::ready(&mut route)
            .await?
            .call(request)
            .await?;
        let mut response = SessionInterceptor::finish(&session, response).await;
        if let Some(challenges) = &this.challenges {
            challenges.apply(&mut response);
        }
        Ok(response)
    }
}

#[async_trait]
impl Interceptor for AuthThenSession {
    async fn intercept(&self, request: Request, next: Next) -> Response {
        let (request, session) = match self.auth.admit(request).await {
            Ok(admitted) => admitted,
            Err(response) => return response,
        };
        let _settle = session.settle_on_drop();
        let response = next.run(request).await;
        SessionInterceptor::finish(&session, response).await
    }
}

fn build(_: &AppContext) -> Result<Arc<dyn Interceptor>, BuildError> {
    Ok(Arc::new(SessionInterceptor))
}

inventory::submit! {
    InterceptorRegistration {
        interceptor: InterceptorRef::of::<SessionInterceptor>(),
        depends_on: &[InterceptorRef::of::<AuthInterceptor>()],
        runs_before: &[],
        builtin: true,
        build,
    }
}
