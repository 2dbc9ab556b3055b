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
}
