//! Secret keys and key lists.

use std::fmt;
use std::sync::Arc;

use hmac::{Hmac, Mac as _};
use rand::RngCore as _;
use sha2::Sha256;

use super::TokenError;

pub(crate) type HmacSha256 = Hmac<Sha256>;

/// Smallest secret accepted by [`Key::new`], in bytes (the HMAC-SHA256 output size).
pub const MIN_KEY_LEN: usize = 32;

/// Why a key or key list was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The secret is shorter than [`MIN_KEY_LEN`].
    #[error("secret key is {len} bytes; at least {min} are required")]
    TooShort {
        /// Length given.
        len: usize,
        /// Minimum length.
        min: usize,
    },
    /// A key list must hold at least one key.
    #[error("a key list needs at least one key")]
    Empty,
    /// Key text holds a character that is no hex digit.
    #[error("secret key text has a non-hex character at byte {index}")]
    NotHex {
        /// Byte offset of the character, after surrounding whitespace.
        index: usize,
    },
    /// Key text has an odd number of hex digits.
    #[error("secret key text has an odd number of hex digits")]
    OddLength,
}

/// A secret for signing tokens. `Debug` never prints the secret.
#[derive(Clone)]
pub struct Key {
    // Precomputed HMAC state: cloning it skips the key schedule on every token.
    mac: HmacSha256,
}

impl Key {
    /// A key from secret bytes; at least [`MIN_KEY_LEN`] bytes of high entropy.
    pub fn new(secret: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        let secret = secret.as_ref();
        if secret.len() < MIN_KEY_LEN {
            return Err(KeyError::TooShort {
                len: secret.len(),
                min: MIN_KEY_LEN,
            });
        }
        Ok(Self::from_secret_unchecked(secret))
    }

    /// A fresh random key. Tokens signed with it stop verifying when the process
    /// restarts unless the key is kept: use it for tests and throwaway demos.
    pub fn generate() -> Self {
        let mut secret = [0u8; 64];
        rand::rng().fill_bytes(&mut secret);
        Self::from_secret_unchecked(&secret)
    }

    fn from_secret_unchecked(secret: &[u8]) -> Self {
        // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
        let mac = <HmacSha256 as hmac::Mac>::new_from_slice(secret)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        Self { mac }
    }

    pub(crate) fn mac(&self) -> HmacSha256 {
        self.mac.clone()
    }

    /// Derives 32 bytes for another purpose (for example an encryption key),
    /// so one configured secret can serve several uses without reuse.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        let mut mac = self.mac();
        mac.update(b"session-core derive\0");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(<redacted>)")
    }
}

/// An ordered list of keys: the first signs, every one verifies.
///
/// Rotate by putting the new key first and keeping the old ones until every
/// token they signed has expired. Where several instances serve one app,
/// add the new key last first (`[old, new]`: it only verifies) on every
/// instance, then put it first: an instance that lacks it would refuse the
/// cookies the others re-issue under it, logging their users out.
#[derive(Clone, Debug)]
pub struct SigningKeys {
    keys: Arc<[Key]>,
}

impl SigningKeys {
    /// A list from keys; fails when empty.
    pub fn new(keys: impl IntoIterator<Item = Key>) -> Result<Self, KeyError> {
        let keys: Arc<[Key]> = keys.into_iter().collect();
        if keys.is_empty() {
            return Err(KeyError::Empty);
        }
        Ok(Self { keys })
    }

    /// A list of one key.
    pub fn single(key: Key) -> Self {
        Self {
            keys: Arc::from([key]),
        }
    }

    /// The signing key.
    pub fn primary(&self) -> &Key {
        &self.keys[0]
    }

    /// Every key, signing key first.
    pub fn all(&self) -> &[Key] {
        &self.keys
    }

    /// Finds the key whose tag over `parts` equals `tag`, comparing in constant time.
    pub(crate) fn verify(&self, parts: &[&[u8]], tag: &[u8]) -> Result<usize, TokenError> {
        for (index, key) in self.keys.iter().enumerate() {
            let mut mac = key.mac();
            for part in parts {
                mac.update(part);
            }
            // `verify_slice` compares in constant time.
            if mac.verify_slice(tag).is_ok() {
                return Ok(index);
            }
        }
        Err(TokenError::BadSignature)
    }
}

impl From<Key> for SigningKeys {
    fn from(key: Key) -> Self {
        Self::single(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_secrets_are_refused() {
        assert_eq!(
            Key::new(b"test_secret").unwrap_err(),
            KeyError::TooShort { len: 11, min: 32 }
        );
        assert!(Key::new([7u8; 32]).is_ok());
    }

    #[test]
    fn empty_key_list_is_refused() {
        assert_eq!(SigningKeys::new([]).unwrap_err(), KeyError::Empty);
    }

    #[test]
    fn debug_hides_the_secret() {
        let key = Key::new(b"super-secret-super-secret-super-secret").unwrap();
        assert_eq!(format!("{key:?}"), "Key(<redacted>)");
    }

    #[test]
    fn derived_keys_depend_on_purpose_and_secret() {
        let a = Key::new([1u8; 32]).unwrap();
        let b = Key::new([2u8; 32]).unwrap();
        assert_ne!(a.derive("enc"), a.derive("other"));
        assert_ne!(a.derive("enc"), b.derive("enc"));
        assert_eq!(a.derive("enc"), a.derive("enc"));
    }
}
