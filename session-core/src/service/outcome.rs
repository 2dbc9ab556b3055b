use crate::{CookieLifetime, SessionId, Timestamp};

/// What persist wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersistOutcome {
    /// Nothing to write.
    Unchanged,
    /// A new session was stored.
    Created,
    /// Changed data was saved (and expiry refreshed when `refreshed`).
    Saved {
        /// Whether expiry moved too.
        refreshed: bool,
    },
    /// Only expiry moved.
    Refreshed,
    /// Nothing changed; the session's last use was recorded: its
    /// `last_seen` was older than the service's last-seen interval, or a
    /// token verified by an older key is re-signed (the write confirms the
    /// session is still there).
    Seen,
    /// The session moved to a new id (login or rotation) and the old id was
    /// deleted; after a login apart, the new session was created and the
    /// loaded one left in place.
    Rotated,
    /// The session was deleted (a logout). When the request wrote data or
    /// flash after the logout, a new anonymous session holding only those
    /// was created: [`Persisted::id`] names it and the cookie is set to it;
    /// otherwise the cookie is cleared. A new session that cannot be kept
    /// (the store fails, or it is too large for the cookie store) is
    /// dropped and logged, and the cookie cleared: the logout stands.
    Destroyed,
    /// The session disappeared meanwhile (expired, revoked, or moved by a
    /// login or rotation in another request, also before this one loaded
    /// it); nothing was written, and the cookie is left alone.
    Vanished,
}

/// What the client's cookie should do. `Debug` never prints the token, a
/// credential.
#[derive(Clone, PartialEq, Eq)]
pub enum CookieAction {
    /// Leave it as it is.
    Keep,
    /// Set it to `token`, valid until `expires_at`.
    Set {
        /// The signed token.
        token: String,
        /// Expiry (cookie `Max-Age` follows it).
        expires_at: Timestamp,
        /// Whether the cookie carries `Max-Age` (the session's login chose).
        lifetime: CookieLifetime,
    },
    /// Remove it.
    Clear,
}

impl std::fmt::Debug for CookieAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Keep => f.write_str("Keep"),
            Self::Set {
                expires_at,
                lifetime,
                ..
            } => f
                .debug_struct("Set")
                .field("token", &format_args!("<redacted>"))
                .field("expires_at", expires_at)
                .field("lifetime", lifetime)
                .finish(),
            Self::Clear => f.write_str("Clear"),
        }
    }
}

/// The result of [`SessionService::persist`](super::SessionService::persist).
/// Read, not built: later releases may add to it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Persisted {
    /// What was written.
    pub outcome: PersistOutcome,
    /// What to tell the client.
    pub cookie: CookieAction,
    /// The session id after persist, if a session exists.
    pub id: Option<SessionId>,
    /// What the ended-sessions cookie of a client-side store should do
    /// (see [`SessionService::check_ended`](crate::SessionService::check_ended)):
    /// set after a logout, or a login as another user, that ended the loaded
    /// logged-in session, under the session cookie's name plus
    /// [`ENDED_COOKIE_SUFFIX`](crate::store::cookie::ENDED_COOKIE_SUFFIX);
    /// always `Keep` with a server-side store.
    pub ended: CookieAction,
}

impl Persisted {
    /// An outcome that leaves the ended-sessions cookie as it is.
    pub(crate) fn new(
        outcome: PersistOutcome,
        cookie: CookieAction,
        id: Option<SessionId>,
    ) -> Self {
        Self {
            outcome,
            cookie,
            id,
            ended: CookieAction::Keep,
        }
    }
}
