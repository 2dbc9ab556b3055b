//! Signed tokens and cookies' values: keys, signing, bearer headers.

mod bearer;
mod error;
mod key;
mod key_file;
mod signer;

pub use bearer::{bearer_header, bearer_token, is_bearer_scheme};
pub use error::TokenError;
pub(crate) use key::HmacSha256;
pub use key::{Key, KeyError, MIN_KEY_LEN, SigningKeys};
pub use key_file::KeyFileError;
pub use signer::{MAX_TOKEN_LEN, TokenSigner, Verified};
