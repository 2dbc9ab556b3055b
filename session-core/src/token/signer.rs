//! Signed tokens: `<payload>.<tag>`, where the tag is HMAC-SHA256 over the
//! context (the cookie name) and the payload.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::Mac as _;

use super::{SigningKeys, TokenError};
use crate::SessionId;

/// Longest token accepted, in bytes; longer input is refused before any work.
pub const MAX_TOKEN_LEN: usize = 8192;
const TAG_LEN: usize = 32;
const TAG_TEXT_LEN: usize = 43;

/// A verified token's content and the index of the key that verified it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified<T> {
    /// What the token carried.
    pub value: T,
    /// Index into the key list of the key that verified the tag; `0` is the signing key.
    pub key_index: usize,
}

impl<T> Verified<T> {
    /// Whether the token was signed by an older key and should be re-issued.
    pub fn needs_reissue(&self) -> bool {
        self.key_index != 0
    }
}

/// Signs and verifies tokens bound to one context (the cookie name), so a token
/// minted for one cookie is refused for another.
#[derive(Clone, Debug)]
pub struct TokenSigner {
    keys: SigningKeys,
    context: Arc<str>,
}

impl TokenSigner {
    /// A signer for `context` (normally the cookie name).
    pub fn new(keys: SigningKeys, context: impl Into<Arc<str>>) -> Self {
        Self {
            keys,
            context: context.into(),
        }
    }

    /// The keys.
    pub fn keys(&self) -> &SigningKeys {
        &self.keys
    }

    /// The context bound into every tag.
    pub fn context(&self) -> &str {
        &self.context
    }

    fn context_prefix(&self) -> [u8; 4] {
        u32::try_from(self.context.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes()
    }

    /// Signs `payload`, which must not be empty; the result is `payload.tag`.
    /// Crate-private: signed payloads are session tokens and sealed cookie
    /// sessions, so signing text from elsewhere could mint either.
    pub(crate) fn sign_payload(&self, payload: &str) -> String {
        let mut mac = self.keys.primary().mac();
        mac.update(&self.context_prefix());
        mac.update(self.context.as_bytes());
        mac.update(payload.as_bytes());
        let tag = mac.finalize().into_bytes();
        let mut out = String::with_capacity(payload.len() + 1 + TAG_TEXT_LEN);
        out.push_str(payload);
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(tag, &mut out);
        out
    }

    /// Verifies a `payload.tag` token and returns the payload.
    pub(crate) fn verify_payload<'t>(
        &self,
        token: &'t str,
    ) -> Result<Verified<&'t str>, TokenError> {
        if token.is_empty() {
            return Err(TokenError::Empty);
        }
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::TooLong {
                len: token.len(),
                max: MAX_TOKEN_LEN,
            });
        }
        let (payload, tag_text) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
        if payload.is_empty() || tag_text.len() != TAG_TEXT_LEN {
            return Err(TokenError::Malformed);
        }
        let mut tag = [0u8; TAG_LEN + 2];
        let n = URL_SAFE_NO_PAD
            .decode_slice(tag_text, &mut tag)
            .map_err(|_| TokenError::Malformed)?;
        if n != TAG_LEN {
            return Err(TokenError::Malformed);
        }
        let key_index = self.keys.verify(
            &[
                &self.context_prefix(),
                self.context.as_bytes(),
                payload.as_bytes(),
            ],
            &tag[..TAG_LEN],
        )?;
        Ok(Verified {
            value: payload,
            key_index,
        })
    }

    /// The token for a session id.
    pub fn sign_id(&self, id: &SessionId) -> String {
        let mut buf = [0u8; crate::id::SESSION_ID_LEN];
        self.sign_payload(id.encode_into(&mut buf))
    }

    /// The session id in a token.
    pub fn verify_id(&self, token: &str) -> Result<Verified<SessionId>, TokenError> {
        let verified = self.verify_payload(token)?;
        let id = verified.value.parse().map_err(|_| TokenError::Malformed)?;
        Ok(Verified {
            value: id,
            key_index: verified.key_index,
        })
    }

    /// The session id behind an `Authorization` header value (`Bearer <token>`);
    /// `None` when the header is absent, empty, of another scheme or not valid.
    pub fn session_id_from_bearer(&self, header: Option<&str>) -> Option<SessionId> {
        let token = super::bearer_token(header?)?;
        self.verify_id(token).ok().map(|v| v.value)
    }

    /// The `Authorization` header value for a session id.
    pub fn bearer_for(&self, id: &SessionId) -> String {
        super::bearer_header(&self.sign_id(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::Key;

    fn key(n: u8) -> Key {
        Key::new([n; 32]).unwrap()
    }

    fn signer(keys: &[u8]) -> TokenSigner {
        TokenSigner::new(
            SigningKeys::new(keys.iter().map(|&n| key(n))).unwrap(),
            "sid",
        )
    }

    #[test]
    fn sign_then_verify_round_trips_with_the_first_key() {
        let s = signer(&[1, 2]);
        let id = SessionId::generate();
        let token = s.sign_id(&id);
        let v = s.verify_id(&token).unwrap();
        assert_eq!(v.value, id);
        assert_eq!(v.key_index, 0);
        assert!(!v.needs_reissue());
    }

    #[test]
    fn older_keys_verify_and_report_their_index() {
        let old = signer(&[2]);
        let rotated = signer(&[1, 3, 2]);
        let id = SessionId::generate();
        let v = rotated.verify_id(&old.sign_id(&id)).unwrap();
        assert_eq!(v.value, id);
        assert_eq!(v.key_index, 2);
        assert!(v.needs_reissue());
        // Re-signing uses the first key.
        assert_eq!(
            rotated.verify_id(&rotated.sign_id(&id)).unwrap().key_index,
            0
        );
    }

    #[test]
    fn unknown_key_is_a_bad_signature() {
        let id = SessionId::generate();
        assert_eq!(
            signer(&[1]).verify_id(&signer(&[9]).sign_id(&id)),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn the_context_is_bound_into_the_tag() {
        let keys = SigningKeys::single(key(1));
        let a = TokenSigner::new(keys.clone(), "sid");
        let b = TokenSigner::new(keys, "other");
        let token = a.sign_id(&SessionId::generate());
        assert_eq!(b.verify_id(&token), Err(TokenError::BadSignature));
    }

    #[test]
    fn tampering_anywhere_is_refused() {
        let s = signer(&[1]);
        let token = s.sign_id(&SessionId::generate());
        for i in 0..token.len() {
            let mut bytes = token.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let tampered = String::from_utf8(bytes).unwrap();
            assert!(s.verify_id(&tampered).is_err(), "position {i} accepted");
        }
    }

    #[test]
    fn only_the_canonical_text_of_a_tag_is_accepted() {
        let s = signer(&[1]);
        let token = s.sign_id(&SessionId::generate());
        let (payload, tag) = token.rsplit_once('.').unwrap();
        // The last of 43 characters carries 4 bits and 2 unused ones: setting
        // an unused bit keeps the decoded bytes but not the text.
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let last = *tag.as_bytes().last().unwrap();
        let sextet = ALPHABET.iter().position(|&c| c == last).unwrap();
        assert_eq!(
            sextet & 0b11,
            0,
            "a canonical tag leaves the unused bits clear"
        );
        let twin = format!(
            "{payload}.{}{}",
            &tag[..tag.len() - 1],
            ALPHABET[sextet | 1] as char
        );
        assert_eq!(
            URL_SAFE_NO_PAD.decode_slice(tag, &mut [0u8; 34]).unwrap(),
            32
        );
        assert_eq!(s.verify_id(&twin), Err(TokenError::Malformed));
        assert!(s.verify_id(&token).is_ok());
    }

    #[test]
    fn malformed_input_gives_typed_errors() {
        let s = signer(&[1]);
        let token = s.sign_id(&SessionId::generate());
        assert_eq!(s.verify_id(""), Err(TokenError::Empty));
        assert_eq!(s.verify_id("garbage"), Err(TokenError::Malformed));
        assert_eq!(
            s.verify_id(&token[..token.len() - 1]),
            Err(TokenError::Malformed)
        );
        assert_eq!(s.verify_id(&token[..30]), Err(TokenError::Malformed));
        assert_eq!(s.verify_id(".abc"), Err(TokenError::Malformed));
        assert_eq!(s.verify_id("é.é"), Err(TokenError::Malformed));
        let long = "a".repeat(MAX_TOKEN_LEN + 1);
        assert!(matches!(
            s.verify_id(&long),
            Err(TokenError::TooLong { .. })
        ));
        // A validly signed payload that is not an id.
        assert_eq!(
            s.verify_id(&s.sign_payload("not-an-id")),
            Err(TokenError::Malformed)
        );
    }

    #[test]
    fn bearer_helpers_round_trip() {
        let s = signer(&[1]);
        let id = SessionId::generate();
        let header = s.bearer_for(&id);
        assert!(header.starts_with("Bearer "));
        assert_eq!(s.session_id_from_bearer(Some(&header)), Some(id));
        assert_eq!(s.session_id_from_bearer(None), None);
        assert_eq!(s.session_id_from_bearer(Some("")), None);
        assert_eq!(s.session_id_from_bearer(Some("Bearer ")), None);
        assert_eq!(s.session_id_from_bearer(Some("Bearer garbage")), None);
        assert_eq!(s.session_id_from_bearer(Some("Basic dXNlcjpwYXNz")), None);
    }
}
