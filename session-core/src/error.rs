//! Errors of the session service.

use crate::{ExpiryError, KeyError, SessionDataError, StoreError};

/// Why a session operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Typed data did not encode, decode or validate.
    #[error(transparent)]
    Data(#[from] SessionDataError),
    /// Another request saved the session since it was loaded (compare-and-set).
    #[error("session was changed by another request (revision {current})")]
    Conflict {
        /// The stored revision.
        current: u64,
    },
    /// The configuration is unusable.
    #[error("invalid session configuration: {0}")]
    Config(String),
}

impl SessionError {
    /// Whether the store is down or slow (answer 503).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Store(e) if e.is_unavailable())
    }
}

impl From<KeyError> for SessionError {
    fn from(e: KeyError) -> Self {
        Self::Config(e.to_string())
    }
}

impl From<ExpiryError> for SessionError {
    fn from(e: ExpiryError) -> Self {
        Self::Config(e.to_string())
    }
}
