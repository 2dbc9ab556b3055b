//! Session handles: what a page listing a user's sessions shows, and sends
//! back to revoke one, in place of the session's id.

use std::fmt;
use std::str::FromStr;

use hmac::Mac as _;

use crate::SessionId;
use crate::id::{SESSION_ID_BYTES, SESSION_ID_LEN, SessionIdError};
use crate::token::{HmacSha256, Key, SigningKeys};

/// What a key is derived for: handles never share a key with tokens.
const PURPOSE: &str = "session handles";

/// An opaque name for one of a user's sessions, for a page listing them
/// ("your devices") and the request that revokes one.
///
/// It is an HMAC of the session id under a key derived from the signing
/// key, cut to 128 bits: stable for a session while the signing key
/// stays, it reveals nothing of the id, and it names the session only to
/// the service that made it, for the user who owns it
/// ([`SessionService::revoke_by_handle`](crate::SessionService::revoke_by_handle)).
/// A handle from before a key rotation still finds its session while the
/// old key is in the list. Text form: 22 characters of URL-safe base64,
/// as `Display`, `FromStr` and serde use it (so `Path<SessionHandle>`
/// parses one, and refuses anything else with a 400).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionHandle([u8; SESSION_ID_BYTES]);

impl SessionHandle {
    fn as_text_id(&self) -> SessionId {
        SessionId::from_bytes(self.0)
    }
}

impl fmt::Display for SessionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; SESSION_ID_LEN];
        f.write_str(self.as_text_id().encode_into(&mut buf))
    }
}

impl fmt::Debug for SessionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionHandle({self})")
    }
}

/// Why a string is not a [`SessionHandle`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionHandleError {
    /// The text has the wrong length.
    #[error("session handle must be {SESSION_ID_LEN} characters, got {0}")]
    Length(usize),
    /// The text is not canonical URL-safe base64 without padding.
    #[error("session handle is not URL-safe base64")]
    Encoding,
}

impl FromStr for SessionHandle {
    type Err = SessionHandleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // The same text form as an id.
        match s.parse::<SessionId>() {
            Ok(id) => Ok(Self(*id.as_bytes())),
            Err(SessionIdError::Length(len)) => Err(SessionHandleError::Length(len)),
            Err(SessionIdError::Encoding) => Err(SessionHandleError::Encoding),
        }
    }
}

impl serde::Serialize for SessionHandle {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for SessionHandle {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The handle keys of a key list, the signing key's first.
pub(crate) struct HandleKeys(Vec<HmacSha256>);

impl HandleKeys {
    pub(crate) fn new(keys: &SigningKeys) -> Self {
        Self(keys.all().iter().map(derive).collect())
    }

    /// `id`'s handle under the signing key.
    pub(crate) fn handle(&self, id: &SessionId) -> SessionHandle {
        let tag = self.0[0].clone().chain_update(id.as_bytes()).finalize();
        let mut bytes = [0u8; SESSION_ID_BYTES];
        bytes.copy_from_slice(&tag.into_bytes()[..SESSION_ID_BYTES]);
        SessionHandle(bytes)
    }

    /// Whether `handle` names `id` under any key, compared in constant time.
    pub(crate) fn names(&self, handle: &SessionHandle, id: &SessionId) -> bool {
        self.0.iter().any(|mac| {
            mac.clone()
                .chain_update(id.as_bytes())
                .verify_truncated_left(&handle.0)
                .is_ok()
        })
    }
}

fn derive(key: &Key) -> HmacSha256 {
    // HMAC takes keys of any length.
    <HmacSha256 as hmac::Mac>::new_from_slice(&key.derive(PURPOSE))
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handle_is_stable_names_its_id_alone_and_reveals_nothing_of_it() {
        let keys = HandleKeys::new(&SigningKeys::single(Key::generate()));
        let (a, b) = (SessionId::generate(), SessionId::generate());
        assert_eq!(keys.handle(&a), keys.handle(&a));
        assert_ne!(keys.handle(&a), keys.handle(&b));
        assert!(keys.names(&keys.handle(&a), &a));
        assert!(!keys.names(&keys.handle(&a), &b));
        assert_ne!(keys.handle(&a).to_string(), a.to_string());
    }

    #[test]
    fn another_keys_handle_names_nothing_and_an_old_keys_still_does() {
        let (old, new) = (Key::generate(), Key::generate());
        let id = SessionId::generate();
        let before = HandleKeys::new(&SigningKeys::single(old.clone())).handle(&id);
        let other = HandleKeys::new(&SigningKeys::single(new.clone()));
        assert!(!other.names(&before, &id));
        let rotated = HandleKeys::new(&SigningKeys::new([new, old]).unwrap());
        assert!(rotated.names(&before, &id));
        assert_ne!(
            rotated.handle(&id),
            before,
            "the signing key makes new handles"
        );
    }

    #[test]
    fn a_handle_is_not_the_token_signature_of_its_id() {
        // Handles come from a derived key: the signer's tag never shows.
        let key = Key::generate();
        let id = SessionId::generate();
        let handle = HandleKeys::new(&SigningKeys::single(key.clone())).handle(&id);
        let token = crate::token::TokenSigner::new(SigningKeys::single(key), "id").sign_id(&id);
        assert!(!token.contains(&handle.to_string()));
    }

    #[test]
    fn the_text_form_round_trips_and_bad_text_is_a_typed_error() {
        let keys = HandleKeys::new(&SigningKeys::single(Key::generate()));
        let handle = keys.handle(&SessionId::generate());
        let text = handle.to_string();
        assert_eq!(text.len(), SESSION_ID_LEN);
        assert_eq!(text.parse::<SessionHandle>(), Ok(handle));
        assert_eq!(
            serde_json::from_str::<SessionHandle>(&serde_json::to_string(&handle).unwrap())
                .unwrap(),
            handle
        );
        assert_eq!(
            "short".parse::<SessionHandle>(),
            Err(SessionHandleError::Length(5))
        );
        assert_eq!(
            "!!!!!!!!!!!!!!!!!!!!!!".parse::<SessionHandle>(),
            Err(SessionHandleError::Encoding)
        );
        assert!(serde_json::from_str::<SessionHandle>("\"x\"").is_err());
    }
}
