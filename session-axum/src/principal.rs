//! Who the request acts for.

use serde::Serialize;
use session_core::{Binding, SessionId};

use crate::RequestSession;

/// The authenticated party of a request: established by the
/// [`AuthInterceptor`](crate::AuthInterceptor) from the session token or by an
/// app's own [`Authenticator`](crate::Authenticator).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Principal {
    /// The user id.
    pub user_id: String,
    /// The session that authenticated the request, if it came from a session:
    /// the id it was loaded under. After a rotation in the same request,
    /// [`Auth::session_id`](crate::Auth::session_id) gives the new one.
    /// Not serialized: `Json(principal)` shows no session id (a page names
    /// sessions by [`SessionHandle`](crate::SessionHandle)).
    #[serde(skip)]
    pub session_id: Option<SessionId>,
    /// Granted permissions.
    pub permissions: Vec<String>,
    /// Free-form details (the session's meta for session principals).
    pub details: Option<serde_json::Value>,
}

impl Principal {
    /// A principal for `user_id` with no session, permissions or details.
    pub fn user(user_id: impl Into<String>) -> Self {
        Self {
            user_id: user_id.into(),
            session_id: None,
            permissions: Vec::new(),
            details: None,
        }
    }

    /// Sets the permissions (an app [`Authenticator`](crate::Authenticator)'s
    /// principal for an API key, say).
    pub fn with_permissions<I, S>(mut self, permissions: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.permissions = permissions.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the details.
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    /// The principal of `request`, for an [`Interceptor`](crate::Interceptor):
    /// `None` when there is none, and in an interceptor that runs outside
    /// the [`AuthInterceptor`](crate::AuthInterceptor) (declare
    /// `depends_on = [AuthInterceptor]`), which has not decided it yet.
    /// Handlers take the [`Principal`] extractor instead. Reading it here
    /// leaves the response's caching headers alone (an access log reads it
    /// on public pages too): an interceptor whose answer depends on it sets
    /// `Cache-Control: private` and `Vary: Cookie` itself.
    pub fn of<B>(request: &http::Request<B>) -> Option<Self> {
        request
            .extensions()
            .get::<RequestSession>()
            .and_then(RequestSession::principal)
    }

    /// Whether the principal holds `permission`.
    pub fn has_permission(&self, permission: &str) -> bool {
        self.permissions.iter().any(|p| p == permission)
    }

    pub(crate) fn from_binding(binding: &Binding, session_id: Option<SessionId>) -> Self {
        Self {
            user_id: binding.user_id.clone(),
            session_id,
            permissions: binding.permissions.clone(),
            details: binding.meta.clone(),
        }
    }
}
