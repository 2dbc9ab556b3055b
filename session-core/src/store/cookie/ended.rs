//! The logged-in sessions a browser ended (logged out of, or left at a
//! login as another user), kept in a second cookie beside a client-side
//! store's session cookie.
//!
//! With a client-side store the browser keeps whichever `Set-Cookie`
//! arrives last: a response of the same browser still in flight when a
//! logout or login answered sets the old session back. That response sets
//! only the session cookie, so the ended session's id, recorded in this
//! one, lets the next request refuse it. A copy replayed from elsewhere
//! comes without this cookie and is not refused: it stays valid until it
//! expires, as the store's docs say.

use std::str::FromStr as _;

use crate::token::TokenSigner;
use crate::{SessionId, Timestamp};

/// How many ended sessions the cookie names at most, the latest kept: a
/// browser ends a few sessions within one session's lifetime.
pub const MAX_ENDED: usize = 8;

/// The suffix of the ended-sessions cookie's name, after the session
/// cookie's (`id` → `id-ended`).
pub const ENDED_COOKIE_SUFFIX: &str = "-ended";

/// Ended sessions of one browser, each with the expiry after which its
/// cookie is refused anyway.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct EndedSessions {
    entries: Vec<(SessionId, Timestamp)>,
}

impl EndedSessions {
    /// The list a cookie value carries, verified by `signer`, without the
    /// entries expired at `now`; `None` for a value that does not verify or
    /// parse (as if the browser had sent none).
    pub(crate) fn open(signer: &TokenSigner, value: &str, now: Timestamp) -> Option<Self> {
        let payload = signer.verify_payload(value).ok()?.value;
        let mut entries = Vec::new();
        for entry in payload.split('.').take(MAX_ENDED) {
            let (id, expires) = entry.split_once('~')?;
            let id = SessionId::from_str(id).ok()?;
            let expires = Timestamp::from_millis(expires.parse().ok()?);
            if expires > now {
                entries.push((id, expires));
            }
        }
        Some(Self { entries })
    }

    /// Adds the entries of `other` (another cookie of the same name).
    pub(crate) fn merge(&mut self, other: Self) {
        for (id, expires_at) in other.entries {
            self.push(id, expires_at);
        }
    }

    /// Whether `id` is among them.
    pub(crate) fn contains(&self, id: &SessionId) -> bool {
        self.entries.iter().any(|(ended, _)| ended == id)
    }

    /// Adds `id`, whose copies may come back until `expires_at`, dropping
    /// the oldest entry past [`MAX_ENDED`].
    pub(crate) fn push(&mut self, id: SessionId, expires_at: Timestamp) {
        if let Some(listed) = self.entries.iter_mut().find(|(ended, _)| *ended == id) {
            listed.1 = listed.1.max(expires_at);
            return;
        }
        if self.entries.len() == MAX_ENDED {
            self.entries.remove(0);
        }
        self.entries.push((id, expires_at));
    }

    /// When the last entry expires: the cookie is needed until then.
    pub(crate) fn expires_at(&self) -> Option<Timestamp> {
        self.entries.iter().map(|(_, expires)| *expires).max()
    }

    /// The cookie value, signed by `signer`'s first key.
    pub(crate) fn seal(&self, signer: &TokenSigner) -> String {
        let payload: Vec<String> = self
            .entries
            .iter()
            .map(|(id, expires)| format!("{id}~{}", expires.as_millis()))
            .collect();
        signer.sign_payload(&payload.join("."))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Key, SigningKeys};

    fn signer(key: u8, context: &str) -> TokenSigner {
        TokenSigner::new(SigningKeys::single(Key::new([key; 32]).unwrap()), context)
    }

    #[test]
    fn a_sealed_list_opens_under_its_keys_and_context_only() {
        let s = signer(1, "id-ended");
        let mut ended = EndedSessions::default();
        let (a, b) = (SessionId::generate(), SessionId::generate());
        ended.push(a, Timestamp::from_millis(5_000));
        ended.push(b, Timestamp::from_millis(9_000));
        let value = ended.seal(&s);
        let opened = EndedSessions::open(&s, &value, Timestamp::from_millis(1_000)).unwrap();
        assert_eq!(opened, ended);
        assert!(opened.contains(&a) && opened.contains(&b));
        assert_eq!(opened.expires_at(), Some(Timestamp::from_millis(9_000)));

        // Past the first entry's expiry it is dropped.
        let later = EndedSessions::open(&s, &value, Timestamp::from_millis(6_000)).unwrap();
        assert!(!later.contains(&a) && later.contains(&b));

        assert!(
            EndedSessions::open(&signer(2, "id-ended"), &value, Timestamp::from_millis(0))
                .is_none()
        );
        assert!(EndedSessions::open(&signer(1, "id"), &value, Timestamp::from_millis(0)).is_none());
        let tampered = value.replacen('~', "~1", 1);
        assert!(EndedSessions::open(&s, &tampered, Timestamp::from_millis(0)).is_none());
        for garbage in ["", ".", "x.y", "\u{0}"] {
            assert!(EndedSessions::open(&s, garbage, Timestamp::from_millis(0)).is_none());
        }
    }

    #[test]
    fn the_latest_are_kept() {
        let mut ended = EndedSessions::default();
        let ids: Vec<SessionId> = (0..=MAX_ENDED).map(|_| SessionId::generate()).collect();
        for id in &ids {
            ended.push(*id, Timestamp::from_millis(1));
        }
        assert!(!ended.contains(&ids[0]));
        assert!(ids[1..].iter().all(|id| ended.contains(id)));
        // Ending one again does not list it twice.
        ended.push(ids[1], Timestamp::from_millis(2));
        assert_eq!(ended.entries.len(), MAX_ENDED);
    }
}
