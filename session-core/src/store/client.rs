//! Client-side stores: the whole session travels in the token.

use std::fmt;

use crate::token::{TokenError, TokenSigner, Verified};
use crate::{SessionRecord, StoreError};

/// A store that keeps each session inside its token (a cookie store) instead
/// of on the server. The service seals the record into the token at persist
/// and opens it at load; there is nothing to look up, list or revoke.
pub trait ClientSide: Send + Sync + fmt::Debug {
    /// The record in a token, verified (and decrypted) with the signer's keys.
    /// A token that verifies but whose record does not decode is
    /// [`TokenError::Undecodable`], told apart from a forged or damaged one:
    /// the service keeps such a token instead of clearing it.
    fn open(
        &self,
        signer: &TokenSigner,
        token: &str,
    ) -> Result<Verified<SessionRecord>, TokenError>;

    /// The token carrying `record`, under the signer's first key.
    fn seal(&self, signer: &TokenSigner, record: &SessionRecord) -> Result<String, StoreError>;
}
