//! Error responses: small JSON bodies, never internals.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use session_core::{SessionError, StoreError};

/// Why a request was refused by the session layer. Each variant answers with
/// a status and a short JSON body `{"error": "..."}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SessionRejection {
    /// The route needs a principal and there is none.
    #[error("authentication required")]
    Unauthorized {
        /// Whether the request used `Authorization: Bearer`: its token names
        /// no bound session (malformed, expired or revoked), and the answer
        /// carries `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750).
        bearer: bool,
    },
    /// The principal lacks a permission the route needs.
    #[error("permission denied")]
    Forbidden,
    /// The session store is down or slow.
    #[error("session store unavailable")]
    StoreUnavailable,
    /// Another request changed the session first (compare-and-set).
    #[error("session changed concurrently")]
    Conflict,
    /// The session is larger than the store accepts.
    #[error("session too large")]
    TooLarge,
    /// The store cannot do this (listing or revoking with client-side sessions).
    #[error("not supported by this session store")]
    Unsupported,
    /// A listing's page cursor was not one the store handed out.
    #[error("invalid page cursor")]
    InvalidCursor,
    /// Stored session data is invalid and the app is configured to fail.
    #[error("session data invalid")]
    InvalidData,
    /// The session layer is not installed on this route (a setup mistake).
    #[error("session layer missing")]
    MissingLayer,
    /// Any other session failure.
    #[error("session error")]
    Internal,
}

impl SessionRejection {
    /// The status code.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::StoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Conflict => StatusCode::CONFLICT,
            Self::Unsupported => StatusCode::NOT_IMPLEMENTED,
            Self::InvalidCursor => StatusCode::BAD_REQUEST,
            Self::TooLarge | Self::InvalidData | Self::MissingLayer | Self::Internal => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }
}

impl From<&SessionError> for SessionRejection {
    fn from(error: &SessionError) -> Self {
        match error {
            SessionError::Store(StoreError::TooLarge { .. }) => Self::TooLarge,
            SessionError::Store(StoreError::Unsupported { .. }) => Self::Unsupported,
            SessionError::Store(StoreError::InvalidCursor(_)) => Self::InvalidCursor,
            e if e.is_unavailable() => Self::StoreUnavailable,
            SessionError::Conflict { .. } => Self::Conflict,
            SessionError::Data(_) => Self::InvalidData,
            _ => Self::Internal,
        }
    }
}

impl From<SessionError> for SessionRejection {
    fn from(error: SessionError) -> Self {
        let rejection = Self::from(&error);
        log_error(&error, rejection);
        rejection
    }
}

/// Logs a session error once, at a level that fits it.
pub(crate) fn log_error(error: &SessionError, rejection: SessionRejection) {
    match rejection {
        SessionRejection::StoreUnavailable => tracing::warn!(%error, "session store unavailable"),
        SessionRejection::Conflict => tracing::info!(%error, "session conflict"),
        SessionRejection::Unsupported => tracing::info!(%error, "unsupported session operation"),
        SessionRejection::InvalidCursor => tracing::info!(%error, "invalid page cursor"),
        _ => tracing::error!(%error, "session error"),
    }
}

impl IntoResponse for SessionRejection {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.to_string() });
        let mut response = (self.status(), Json(body)).into_response();
        if let Self::Unauthorized { bearer: true } = self {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Bearer error="invalid_token""#),
            );
        }
        if self == Self::StoreUnavailable {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_the_store_never_handed_out_is_the_clients_mistake() {
        let error = SessionError::Store(StoreError::InvalidCursor("x".into()));
        let rejection = SessionRejection::from(&error);
        assert_eq!(rejection, SessionRejection::InvalidCursor);
        assert_eq!(rejection.status(), StatusCode::BAD_REQUEST);
        let corrupt = SessionError::Store(StoreError::Corrupt("damaged".into()));
        assert_eq!(
            SessionRejection::from(&corrupt).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
