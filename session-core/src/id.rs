//! Session identifiers.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;

/// Number of random bytes in a [`SessionId`] (128 bits).
pub const SESSION_ID_BYTES: usize = 16;
/// Length of the text form of a [`SessionId`]: URL-safe base64 without padding.
pub const SESSION_ID_LEN: usize = 22;

/// An opaque session identifier: 128 random bits from a CSPRNG.
///
/// The text form is URL-safe base64 without padding (22 characters). `Debug`
/// prints only a short prefix so ids do not leak into logs; `Display` prints the
/// whole id and is meant for storage keys, not for logs.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId([u8; SESSION_ID_BYTES]);

impl SessionId {
    /// Generates a fresh id from the thread-local CSPRNG (ChaCha, seeded and
    /// periodically reseeded from the operating system).
    pub fn generate() -> Self {
        let mut bytes = [0u8; SESSION_ID_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// Builds an id from raw bytes (for stores that keep the binary form).
    pub const fn from_bytes(bytes: [u8; SESSION_ID_BYTES]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; SESSION_ID_BYTES] {
        &self.0
    }

    /// Writes the text form into `buf` and returns it as `&str`, without allocating.
    pub fn encode_into<'b>(&self, buf: &'b mut [u8; SESSION_ID_LEN]) -> &'b str {
        let written = URL_SAFE_NO_PAD
            .encode_slice(self.0, buf)
            .unwrap_or_default();
        debug_assert_eq!(written, SESSION_ID_LEN);
        // Base64 output is ASCII.
        std::str::from_utf8(&buf[..written]).unwrap_or_default()
    }

    /// Where a login or rotation that moves this session away leaves its
    /// marker (see [`SessionRecord::moved_marker`](crate::SessionRecord::moved_marker)):
    /// this id with every bit flipped. No token the service hands out names
    /// it, and keeping it apart from the old id means a
    /// save still in flight for the old id finds nothing there to patch.
    pub const fn moved_marker_id(&self) -> SessionId {
        let mut bytes = self.0;
        let mut i = 0;
        while i < SESSION_ID_BYTES {
            bytes[i] = !bytes[i];
            i += 1;
        }
        Self(bytes)
    }

    /// A short, non-secret prefix of the id for log lines.
    pub fn short(&self) -> ShortId {
        ShortId(*self)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; SESSION_ID_LEN];
        f.write_str(self.encode_into(&mut buf))
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({}…)", self.short())
    }
}

/// The first six characters of a session id, safe to log.
#[derive(Clone, Copy)]
pub struct ShortId(SessionId);

impl fmt::Display for ShortId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; SESSION_ID_LEN];
        let text = self.0.encode_into(&mut buf);
        f.write_str(&text[..6])
    }
}

impl fmt::Debug for ShortId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Why a string is not a [`SessionId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionIdError {
    /// The text has the wrong length.
    #[error("session id must be {SESSION_ID_LEN} characters, got {0}")]
    Length(usize),
    /// The text is not canonical URL-safe base64 without padding.
    #[error("session id is not URL-safe base64")]
    Encoding,
}

impl FromStr for SessionId {
    type Err = SessionIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != SESSION_ID_LEN {
            return Err(SessionIdError::Length(s.len()));
        }
        let mut bytes = [0u8; SESSION_ID_BYTES];
        // The default engine rejects non-zero trailing bits, so each id has exactly one text form.
        match URL_SAFE_NO_PAD.decode_slice(s, &mut bytes) {
            Ok(SESSION_ID_BYTES) => Ok(Self(bytes)),
            _ => Err(SessionIdError::Encoding),
        }
    }
}

impl serde::Serialize for SessionId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; SESSION_ID_LEN];
        serializer.serialize_str(self.encode_into(&mut buf))
    }
}

impl<'de> serde::Deserialize<'de> for SessionId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_round_trips_and_is_22_url_safe_chars() {
        let id = SessionId::generate();
        let text = id.to_string();
        assert_eq!(text.len(), SESSION_ID_LEN);
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(text.parse::<SessionId>(), Ok(id));
    }

    #[test]
    fn generated_ids_differ() {
        let ids: std::collections::HashSet<_> = (0..1000).map(|_| SessionId::generate()).collect();
        assert_eq!(ids.len(), 1000);
    }

    #[test]
    fn parse_rejects_bad_input() {
        assert_eq!("".parse::<SessionId>(), Err(SessionIdError::Length(0)));
        assert_eq!("abc".parse::<SessionId>(), Err(SessionIdError::Length(3)));
        // Right length, wrong alphabet (standard base64 characters, padding).
        assert_eq!(
            "AAAAAAAAAAAAAAAAAAAA+/".parse::<SessionId>(),
            Err(SessionIdError::Encoding)
        );
        assert_eq!(
            "AAAAAAAAAAAAAAAAAAAA==".parse::<SessionId>(),
            Err(SessionIdError::Encoding)
        );
        // Non-canonical: the last character carries non-zero trailing bits.
        assert_eq!(
            "AAAAAAAAAAAAAAAAAAAAAB".parse::<SessionId>(),
            Err(SessionIdError::Encoding)
        );
        // Multi-byte UTF-8 of the right byte length.
        assert!("ééééééééééé".parse::<SessionId>().is_err());
    }

    #[test]
    fn debug_does_not_print_the_full_id() {
        let id = SessionId::generate();
        let text = id.to_string();
        let debug = format!("{id:?}");
        assert!(!debug.contains(&text), "{debug}");
        assert!(debug.contains(&text[..6]));
    }

    #[test]
    fn serde_uses_the_text_form() {
        let id = SessionId::generate();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        assert_eq!(serde_json::from_str::<SessionId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<SessionId>("\"short\"").is_err());
    }
}
