use std::error::Error as StdError;

/// Boxed source error.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store does not do this (for example per-user listing in a cookie store).
    #[error("the {store} store does not support {operation}")]
    Unsupported {
        /// Store name.
        store: &'static str,
        /// Operation name.
        operation: &'static str,
    },
    /// `create` found the id taken; retry with another id.
    #[error("session id already exists")]
    Collision,
    /// The backend is unreachable or failed; the request should get a 503.
    #[error("session store unavailable: {0}")]
    Unavailable(#[source] BoxError),
    /// The backend did not answer within the configured time.
    #[error("session store timed out after {0:?}")]
    Timeout(std::time::Duration),
    /// A stored record does not decode (unknown format version, damaged bytes).
    #[error("stored session is corrupt: {0}")]
    Corrupt(String),
    /// A page cursor this store did not hand out (garbled, or from another
    /// store): start the listing again from the first page.
    #[error("page cursor {0:?} was not handed out by this store")]
    InvalidCursor(String),
    /// A record is larger than the store accepts.
    #[error("session is {size} bytes, larger than the {limit} the store accepts")]
    TooLarge {
        /// Size in bytes.
        size: usize,
        /// Limit in bytes.
        limit: usize,
    },
}

impl StoreError {
    /// An `Unavailable` error from any source.
    pub fn unavailable(source: impl Into<BoxError>) -> Self {
        Self::Unavailable(source.into())
    }

    /// Whether the backend is down or slow (a 503, not a bug).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Timeout(_))
    }
}
