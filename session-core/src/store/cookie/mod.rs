//! [`CookieStore`]: the whole session (data, flash, expiry, binding) lives in
//! the cookie, signed, and encrypted when asked. Astro-session and Remix style.

mod codec;
mod ended;

pub(crate) use ended::EndedSessions;
pub use ended::{ENDED_COOKIE_SUFFIX, MAX_ENDED};

use async_trait::async_trait;

use super::client::ClientSide;
use crate::store::{Capabilities, SessionStore, StoreError};
use crate::token::{TokenError, TokenSigner, Verified};
use crate::{SaveOutcome, SessionId, SessionPatch, SessionRecord, Timestamp};

/// Browsers keep cookies up to 4096 bytes (name, value and attributes).
pub const MAX_COOKIE_BYTES: usize = 4096;

/// Sessions kept entirely on the client.
///
/// The record is serialised into the cookie value and signed with the app's
/// keys (HMAC-SHA256, the cookie name bound in), or, with
/// [`encrypted`](Self::encrypted), sealed with XChaCha20-Poly1305 under a key
/// derived from each signing key, so the client can neither read nor change
/// it. Key rotation works as for server-side tokens: the first key seals,
/// every key opens, and cookies opened with an older key are re-issued.
///
/// Limits, by design: there is no server-side state, so per-user listing and
/// revocation are [`StoreError::Unsupported`]; logout clears the cookie, but a
/// copy of the cookie stays valid until its expiry. Each response carries
/// the whole session and the browser keeps the last to arrive: of two
/// writes to different fields the later answer wins whole; a flash taken
/// by one request comes back with a slower one that loaded it before; and
/// compare-and-set saves are unsupported. A slower response that loaded
/// the session before a logout or a login as another user (a write, or a
/// read whose sliding refresh was due) sets the old session back as well;
/// the web layer refuses it at the next request by the ended-sessions cookie
/// ([`SessionService::check_ended`](crate::SessionService::check_ended)).
/// A session whose cookie name and value would exceed 4096 bytes is
/// refused with [`StoreError::TooLarge`] naming the size, never truncated.
///
/// An authentic cookie whose session does not decode (sealed by a release
/// with another record format, during a rolling deploy say) is not taken for
/// a forgery: [`open`](ClientSide::open) answers
/// [`TokenError::Undecodable`], and the service treats it as a stored record
/// that is corrupt. It is logged with the session id, the request has no
/// session (or fails under
/// [`InvalidDataPolicy::Fail`](crate::InvalidDataPolicy::Fail)), and a
/// read-only request leaves the cookie alone; a write starts a new session,
/// whose cookie replaces it, as a server-side store's corrupt record is left
/// for a new one. A tampered or foreign cookie is cleared.
///
/// Lookups by id outside a request ([`SessionService::record`](crate::SessionService::record),
/// [`user_id`](crate::SessionService::user_id), [`meta`](crate::SessionService::meta),
/// [`revoke`](crate::SessionService::revoke)) are [`StoreError::Unsupported`] too:
/// an id alone finds nothing, and "no such session" would be wrong.
///
/// ```
/// use session_core::{CookieStore, Key, SessionService};
///
/// let sessions = SessionService::builder()
///     .store(CookieStore::encrypted())
///     .key(Key::generate())
///     .build()
///     .unwrap();
/// assert!(sessions.store().client_side().is_some());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct CookieStore {
    encrypt: bool,
}

impl CookieStore {
    /// Signed cookies: tamper-proof but readable by the client (base64 JSON).
    pub fn signed() -> Self {
        Self { encrypt: false }
    }

    /// Encrypted cookies: tamper-proof and opaque. Switching a running app
    /// between signed and encrypted ends its cookie sessions: each store
    /// opens only its own format.
    pub fn encrypted() -> Self {
        Self { encrypt: true }
    }

    /// Whether cookies are encrypted.
    pub fn is_encrypted(&self) -> bool {
        self.encrypt
    }
}

impl ClientSide for CookieStore {
    fn open(
        &self,
        signer: &TokenSigner,
        token: &str,
    ) -> Result<Verified<SessionRecord>, TokenError> {
        codec::open(signer, token, self.encrypt)
    }

    fn seal(&self, signer: &TokenSigner, record: &SessionRecord) -> Result<String, StoreError> {
        let token = codec::seal(signer, record, self.encrypt)?;
        // Browsers keep a cookie whose name (the signer's context) and value
        // fit 4096 bytes together (RFC 6265bis 5.6); the web layer checks
        // the whole header, attributes included.
        let size = signer.context().len() + token.len();
        if size > MAX_COOKIE_BYTES {
            return Err(StoreError::TooLarge {
                size,
                limit: MAX_COOKIE_BYTES,
            });
        }
        Ok(token)
    }
}

#[async_trait]
impl SessionStore for CookieStore {
    fn name(&self) -> &'static str {
        "cookie"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            user_index: false,
            listing: false,
            field_patch: false,
            compare_and_set: false,
            rebind: false,
            // Of the sealed cookie value, checked by `seal`.
            max_record_bytes: Some(MAX_COOKIE_BYTES),
        }
    }

    fn client_side(&self) -> Option<&dyn ClientSide> {
        Some(self)
    }

    async fn create(&self, _record: &SessionRecord) -> Result<(), StoreError> {
        Err(self.unsupported("create (sessions live in the cookie)"))
    }

    async fn load(&self, _id: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        // Nothing is kept server-side: an id alone finds nothing.
        Ok(None)
    }

    async fn save(
        &self,
        _id: &SessionId,
        _patch: &SessionPatch,
    ) -> Result<SaveOutcome, StoreError> {
        Err(self.unsupported("save (sessions live in the cookie)"))
    }

    async fn touch(
        &self,
        _id: &SessionId,
        _expires_at: Timestamp,
        _last_seen: Timestamp,
        _user_id: Option<&str>,
    ) -> Result<SaveOutcome, StoreError> {
        Err(self.unsupported("touch (sessions live in the cookie)"))
    }

    async fn delete(&self, _id: &SessionId) -> Result<bool, StoreError> {
        // Logout clears the cookie; there is no server-side record to delete.
        Ok(false)
    }
}
