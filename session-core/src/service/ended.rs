//! The ended-sessions cookie of a client-side store: a logout or login
//! records the session it ended, and a later request that comes back with
//! that session (set again by a response still in flight) is refused.

use super::SessionService;
use crate::store::cookie::EndedSessions;
use crate::{CookieAction, CookieLifetime, SessionCell, SessionState, TokenStatus};

impl SessionService {
    /// With a client-side store ([`CookieStore`](crate::CookieStore)), after
    /// the load and before anything else reads the cell: `cookies` are the
    /// values of the ended-sessions cookie the request came with (named as
    /// the session cookie plus
    /// [`ENDED_COOKIE_SUFFIX`](crate::store::cookie::ENDED_COOKIE_SUFFIX));
    /// every one that verifies counts, so a cookie planted on a narrower
    /// path cannot hide the list. A logged-in session they name is refused
    /// as a bad token would be (persist clears the cookie), and the list is
    /// kept for persist to add to ([`Persisted::ended`](crate::Persisted::ended)).
    ///
    /// Why: the browser keeps whichever `Set-Cookie` arrives last, so a
    /// response still in flight when a logout or a login as another user
    /// answered (a write, or a read whose refresh was due) sets the old
    /// session back. Not caught: a request in flight that itself moves the
    /// session to a new id (a rotation, a login as the same user). A copy
    /// replayed from elsewhere comes without this cookie: it stays valid
    /// until it expires. Nothing happens with a server-side store, or when
    /// no logged-in session was loaded; values that do not verify are
    /// ignored (logged at `debug`), and of several values only the first
    /// eight are tried, as with the session cookie; a request with more
    /// has its logged-in session refused (fail closed: forged values
    /// planted ahead of the real one would hide it otherwise).
    pub fn check_ended<'c>(&self, cell: &SessionCell, cookies: impl IntoIterator<Item = &'c str>) {
        let Some(signer) = &self.inner.ended_signer else {
            return;
        };
        let mut state = cell.lock();
        // Only a logged-in session is ever recorded, and only one can be
        // recorded further: the list is not needed otherwise.
        let Some(id) = state.record().filter(|r| r.binding.is_some()).map(|r| r.id) else {
            return;
        };
        let mut ended: Option<EndedSessions> = None;
        let mut cookies = cookies.into_iter();
        // Each is a signature check, and the header is the client's to fill.
        for value in cookies.by_ref().take(MAX_ENDED_COOKIES_TRIED) {
            match EndedSessions::open(signer, value, state.now) {
                Some(list) => ended.get_or_insert_default().merge(list),
                None => tracing::debug!("ended-sessions cookie refused"),
            }
        }
        if cookies.next().is_some() {
            // Forged ones set ahead of the real one (from a sibling
            // subdomain) could hide it: more than are read ends the session.
            tracing::info!(
                session = %id.short(),
                max = MAX_ENDED_COOKIES_TRIED,
                "more ended-sessions cookies than are read; the session is refused"
            );
            *state = SessionState::empty(state.now, TokenStatus::Rejected);
            state.ended = ended.map(Box::new);
            return;
        }
        let Some(ended) = ended else {
            return;
        };
        if ended.contains(&id) {
            tracing::info!(
                session = %id.short(),
                "a session this browser ended came back (set again by a response still in flight at its logout or login); refused"
            );
            *state = SessionState::empty(state.now, TokenStatus::Rejected);
        }
        state.ended = Some(Box::new(ended));
    }

    /// The ended-sessions cookie after a persist that ends the loaded,
    /// logged-in session of a client-side store (`ends_login`: a logout or
    /// a login as another user): the list the request came with plus that
    /// session, until the latest expiry a copy refreshed by a request still
    /// in flight could carry. `Keep` otherwise.
    pub(super) fn ended_cookie(&self, state: &mut SessionState, ends_login: bool) -> CookieAction {
        let Some(signer) = &self.inner.ended_signer else {
            return CookieAction::Keep;
        };
        // Also a record whose data was found invalid: it may hold a login.
        let Some(loaded) = state
            .loaded
            .as_ref()
            .filter(|r| ends_login && r.binding.is_some())
        else {
            return CookieAction::Keep;
        };
        // Requests in flight loaded the session before this answer goes
        // out, now; a minute more for the clocks of other instances.
        let now = self.clock().now().max(state.now);
        let until = self.expiry().latest_refresh(loaded, now).plus(CLOCK_MARGIN);
        let id = loaded.id;
        let mut ended = state.ended.take().map(|e| *e).unwrap_or_default();
        ended.push(id, until);
        CookieAction::Set {
            token: ended.seal(signer),
            expires_at: ended.expires_at().unwrap_or(until),
            // Needed as long as a copy of any of them could come back.
            lifetime: CookieLifetime::UntilExpiry,
        }
    }
}

/// The ended-sessions cookies tried per request: a browser sends one (a few
/// with other paths or domains).
const MAX_ENDED_COOKIES_TRIED: usize = 8;

/// How far the clocks of instances sharing the cookie's key may differ.
const CLOCK_MARGIN: std::time::Duration = std::time::Duration::from_secs(60);
