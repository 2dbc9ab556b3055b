use std::sync::Arc;

use async_trait::async_trait;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, header};
use session_core::token::{bearer_token, is_bearer_scheme};
use session_core::{SessionCell, SessionError, SessionService, TokenStatus};

use crate::app::{AppContext, BuildError, WebConfig};
use crate::context::{RequestSession, TokenSource};
use crate::error::SessionRejection;
use crate::interceptor::{Interceptor, InterceptorRef, InterceptorRegistration, Next};
use crate::{Authenticator, Principal};

/// Reads the session token (the session cookie, or `Authorization: Bearer`
/// when bearer tokens are on), verifies it against every signing key, loads
/// the session once, and establishes the request's [`Principal`]. A bad token
/// means no principal, never an error; a failing store answers 503.
pub struct AuthInterceptor {
    service: SessionService,
    config: Arc<WebConfig>,
    authenticators: Arc<[Arc<dyn Authenticator>]>,
}

impl std::fmt::Debug for AuthInterceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthInterceptor")
            .field("authenticators", &self.authenticators.len())
            .finish_non_exhaustive()
    }
}

impl AuthInterceptor {
    /// The interceptor for an app.
    pub fn from_app(ctx: &AppContext) -> Self {
        Self {
            service: ctx.service().clone(),
            config: ctx.config().clone(),
            authenticators: ctx.authenticators(),
        }
    }

    /// Starts loading the session the request's token names:
    /// `Authorization: Bearer` when bearer tokens are on and the header is
    /// present, else the first of the session cookies that verifies. Tokens
    /// are verified here; the future only looks the session up. The flag says
    /// whether the token came as a bearer token.
    pub(crate) fn load(
        &self,
        headers: &HeaderMap,
    ) -> (
        impl Future<Output = Result<SessionCell, SessionError>> + Send + '_,
        bool,
    ) {
        // Only the Bearer scheme: `Basic` from a proxy leaves the cookies alone.
        let authorization = match self.config.bearer {
            true => headers
                .get(header::AUTHORIZATION)
                .filter(|value| is_bearer_scheme(value.as_bytes())),
            false => None,
        };
        // A Bearer header without a usable token is still a bearer attempt:
        // the cookies are not tried then.
        let bearer =
            authorization.map(|value| value.to_str().ok().and_then(bearer_token).unwrap_or(""));
        let cookies = self
            .config
            .cookie
            .tokens(headers)
            .filter(move |_| bearer.is_none());
        let tokens = bearer.into_iter().chain(cookies);
        (self.service.load_first(tokens), bearer.is_some())
    }
}

impl AuthInterceptor {
    /// Loads the session and establishes the principal; the request goes on
    /// with the [`RequestSession`] in its extensions. A failing store answers 503.
    pub(crate) async fn admit(
        &self,
        mut request: Request,
    ) -> Result<(Request, RequestSession), Response> {
        let (loading, bearer) = self.load(request.headers());
        let cell = loading.await.map_err(Self::reject)?;
        let session = self.admitted(&mut request, cell, bearer).await?;
        Ok((request, session))
    }

    /// The response for a store that failed while loading.
    pub(crate) fn reject(error: SessionError) -> Response {
        SessionRejection::from(error).into_response()
    }

    /// Establishes the principal of a loaded session (asking the app's
    /// authenticators when the session has none) and puts the
    /// [`RequestSession`] in the request's extensions. With a client-side
    /// store, a session the browser ended is refused first.
    pub(crate) async fn admitted(
        &self,
        request: &mut Request,
        cell: SessionCell,
        bearer: bool,
    ) -> Result<RequestSession, Response> {
        if let Some(ended) = &self.config.ended_cookie {
            self.service
                .check_ended(&cell, ended.tokens(request.headers()));
        }
        let (source, mut principal) = {
            let mut state = cell.lock();
            let status = state.token_status();
            let source = match (bearer, status) {
                (true, _) => TokenSource::Bearer,
                (false, TokenStatus::Absent) => TokenSource::None,
                (false, _) => TokenSource::Cookie,
            };
            if source == TokenSource::Bearer {
                state.keep_token();
            }
            let principal = match status {
                TokenStatus::Valid { .. } => state
                    .binding()
                    .map(|b| Principal::from_binding(b, state.id())),
                _ => None,
            };
            (source, principal)
        };
        let mut by_app = false;
        if principal.is_none() && !self.authenticators.is_empty() {
            // Boxed: most apps have no authenticators, and their requests'
            // futures should not carry room for this step.
            principal = Box::pin(self.authenticate(request)).await;
            by_app = principal.is_some();
        }
        let session = RequestSession::new(
            cell,
            self.service.clone(),
            self.config.clone(),
            source,
            principal,
            by_app,
        );
        request.extensions_mut().insert(session.clone());
        Ok(session)
    }

    /// The principal the app's first agreeing authenticator finds.
    async fn authenticate(&self, request: &mut Request) -> Option<Principal> {
        // Authenticators see the parts; the request is put back whole.
        let (parts, body) = std::mem::take(request).into_parts();
        let mut principal = None;
        for authenticator in self.authenticators.iter() {
            if let Some(p) = authenticator.authenticate(&parts).await {
                principal = Some(p);
                break;
            }
        }
        *request = Request::from_parts(parts, body);
        principal
    }
}

#[async_trait]
impl Interceptor for AuthInterceptor {
    async fn intercept(&self, request: Request, next: Next) -> Response {
        match self.admit(request).await {
            Ok((request, _)) => next.run(request).await,
            Err(response) => response,
        }
    }
}

fn build(ctx: &AppContext) -> Result<Arc<dyn Interceptor>, BuildError> {
    Ok(Arc::new(AuthInterceptor::from_app(ctx)))
}

inventory::submit! {
    InterceptorRegistration {
        interceptor: InterceptorRef::of::<AuthInterceptor>(),
        depends_on: &[],
        runs_before: &[],
        builtin: true,
        build,
    }
}
