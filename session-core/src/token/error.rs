use crate::SessionId;

/// Why a token was refused. Every variant means "no session"; none is a server fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// No token text.
    #[error("token is empty")]
    Empty,
    /// Longer than any token this crate issues.
    #[error("token is {len} bytes, longer than the {max} accepted")]
    TooLong {
        /// Length given.
        len: usize,
        /// Maximum accepted.
        max: usize,
    },
    /// Not of the `payload.tag` form, or its parts do not decode.
    #[error("token is malformed")]
    Malformed,
    /// No key produces this tag: tampered, truncated or signed with an unknown key.
    #[error("token signature does not verify")]
    BadSignature,
    /// The token is authentic (its tag or seal verifies) but the session it
    /// carries does not decode: written by a release with another record
    /// format, say. Not a forgery: the session is treated as a stored record
    /// that is corrupt (see [`StoreError::Corrupt`](crate::StoreError::Corrupt)),
    /// and the client keeps its token.
    #[error("token is authentic but its session does not decode: {reason}")]
    Undecodable {
        /// The session's id, when what does not decode still names one.
        session: Option<SessionId>,
        /// Why it does not decode.
        reason: String,
    },
}
