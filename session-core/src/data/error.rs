/// Why typed session data could not be encoded, decoded or validated.
#[derive(Debug, thiserror::Error)]
pub enum SessionDataError {
    /// A stored value does not decode into the field's type.
    #[error("session field `{field}` does not decode: {message}")]
    InvalidField {
        /// Field name.
        field: String,
        /// Decoder message.
        message: String,
    },
    /// A value does not serialise.
    #[error("session field `{field}` does not encode: {message}")]
    Encode {
        /// Field name.
        field: String,
        /// Encoder message.
        message: String,
    },
    /// The data decoded but the type's `validate` hook refused it.
    #[error("session data is invalid: {0}")]
    Validation(String),
    /// A field index outside the type's field list (a bug in a hand-written impl).
    #[error("no session field at index {0}")]
    UnknownField(usize),
}

impl SessionDataError {
    /// A validation failure with a message.
    pub fn validation(message: impl std::fmt::Display) -> Self {
        Self::Validation(message.to_string())
    }
}
