//! Who the request acts for.

use serde::Serialize;
use session_core::{Binding, SessionId};

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
