//! The ended-sessions cookie of a client-side store: a logout or login
//! records the session it ended, and a later request that comes back with
//! that session (set again by a response still in flight) is refused.

use super::SessionService;
use crate::store::cookie::EndedSessions;
use crate::{CookieAction, CookieLifetime, SessionCell, SessionState, TokenStatus};

impl SessionService {
    /// With a client-side store ([`CookieStore`](crate::CookieStore)), after
    /// the load: `cookie` is the value of the ended-sessions cookie the
    /// request came with (named as the session cookie plus
    /// [`ENDED_COOKIE_SUFFIX`](crate::store::cookie::ENDED_COOKIE_SUFFIX)).
    /// A session it names is refused as a bad token would be (persist clears
    /// the cookie), and the list is kept for persist to add to
    /// ([`Persisted::ended`](crate::Persisted::ended)).
    ///
    /// Why: the browser keeps whichever `Set-Cookie` arrives last, so a
    /// response still in flight when a logout or a login answered (a write,
    /// or a read whose refresh was due) sets the old session back. A copy
    /// replayed from elsewhere comes without this cookie: it stays valid
    /// until it expires. Nothing happens with a server-side store, or for a
    /// value that does not verify (logged at `debug`).
    pub fn check_ended(&self, cell: &SessionCell, cookie: Option<&str>) {
        let (Some(signer), Some(value)) = (&self.inner.ended_signer, cookie) else {
            return;
        };
        let mut state = cell.lock();
        let Some(ended) = EndedSessions::open(signer, value, state.now) else {
            tracing::debug!("ended-sessions cookie refused");
            return;
        };
        if let Some(id) = state.record().map(|r| r.id).filter(|id| ended.contains(id)) {
            tracing::info!(
                session = %id.short(),
                "a session this browser ended came back (set again by a response still in flight at its logout or login); refused"
            );
            *state = SessionState::empty(state.now, TokenStatus::Rejected);
        }
        state.ended = Some(Box::new(ended));
    }

    /// The ended-sessions cookie after a persist that ends the loaded
    /// session of a client-side store (a logout, a login or a rotation):
    /// the list the request came with plus that session. `Keep` otherwise.
    pub(super) fn ended_cookie(&self, state: &mut SessionState, ends_loaded: bool) -> CookieAction {
        let (Some(signer), Some(loaded), true) =
            (&self.inner.ended_signer, state.record(), ends_loaded)
        else {
            return CookieAction::Keep;
        };
        let (id, expires_at) = (loaded.id, loaded.expires_at);
        let mut ended = state.ended.take().map(|e| *e).unwrap_or_default();
        ended.push(id, expires_at);
        CookieAction::Set {
            token: ended.seal(signer),
            expires_at: ended.expires_at().unwrap_or(expires_at),
            // Needed as long as a copy of any of them could come back.
            lifetime: CookieLifetime::UntilExpiry,
        }
    }
}
