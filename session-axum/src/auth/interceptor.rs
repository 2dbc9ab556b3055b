use std::sync::Arc;

use async_trait::async_trait;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, header};
use session_core::token::bearer_token;
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

    /// Loads the session the request's token names: `Authorization: Bearer`
    /// when bearer tokens are on and the header is present, else the first of
    /// the session cookies that verifies.
    async fn load(&self, headers: &HeaderMap) -> Result<(SessionCell, TokenSource), SessionError> {
        if self.config.bearer
            && let Some(value) = headers.get(header::AUTHORIZATION)
        {
            // An Authorization header that is not a usable bearer token is still a bearer attempt.
            let token = value.to_str().ok().and_then(bearer_token).unwrap_or("");
            let cell = self.service.load_first(std::iter::once(token)).await?;
            return Ok((cell, TokenSource::Bearer));
        }
        let mut tokens = self.config.cookie.tokens(headers).peekable();
        let source = match tokens.peek() {
            Some(_) => TokenSource::Cookie,
            None => TokenSource::None,
        };
        Ok((self.service.load_first(tokens).await?, source))
    }
}

impl AuthInterceptor {
    /// Loads the session and establishes the principal; the request goes on
    /// with the [`RequestSession`] in its extensions. A failing store answers 503.
    pub(crate) async fn admit(
        &self,
        request: Request,
    ) -> Result<(Request, RequestSession), Response> {
        let (cell, source) = match self.load(request.headers()).await {
            Ok(loaded) => loaded,
            Err(error) => return Err(SessionRejection::from(error).into_response()),
        };
        let mut principal = {
            let state = cell.lock();
            match state.token_status() {
                TokenStatus::Valid { .. } => state
                    .binding()
                    .map(|b| Principal::from_binding(b, state.id())),
                _ => None,
            }
        };
        let mut request = request;
        if principal.is_none() && !self.authenticators.is_empty() {
            let (parts, body) = request.into_parts();
            for authenticator in self.authenticators.iter() {
                if let Some(p) = authenticator.authenticate(&parts).await {
                    principal = Some(p);
                    break;
                }
            }
            request = Request::from_parts(parts, body);
        }
        let session = RequestSession::new(
            cell,
            self.service.clone(),
            self.config.clone(),
            source,
            principal,
        );
        request.extensions_mut().insert(session.clone());
        Ok((request, session))
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
