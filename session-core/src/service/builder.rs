use std::sync::Arc;
use std::time::Duration;

use super::check::DataCheck;
use super::{Inner, InvalidDataPolicy, SessionService};
use crate::clock::{SharedClock, SystemClock};
use crate::store::SessionStore;
use crate::token::{Key, SigningKeys, TokenSigner};
use crate::{ExpiryPolicy, SessionData, SessionError};

/// Cookie name used when none is configured; also bound into token signatures.
pub const DEFAULT_COOKIE_NAME: &str = "id";

/// Configures a [`SessionService`].
#[derive(Debug)]
pub struct SessionServiceBuilder {
    store: Option<Arc<dyn SessionStore>>,
    keys: Vec<Key>,
    context: Option<String>,
    expiry: ExpiryPolicy,
    clock: Option<SharedClock>,
    invalid_data: InvalidDataPolicy,
    checks: Vec<DataCheck>,
    last_seen_interval: Option<Duration>,
    moved_grace: Duration,
    max_sessions_per_user: Option<usize>,
}

/// How stale a logged-in session's last use may get, by default, before a
/// request that only reads it records the use: a minute.
pub const DEFAULT_LAST_SEEN_INTERVAL: Duration = Duration::from_secs(60);

/// How long a moved session's old id is told apart, by default: a minute
/// (see [`SessionServiceBuilder::moved_grace`]).
pub const DEFAULT_MOVED_GRACE: Duration = Duration::from_secs(60);

impl Default for SessionServiceBuilder {
    fn default() -> Self {
        Self {
            store: None,
            keys: Vec::new(),
            context: None,
            expiry: ExpiryPolicy::default(),
            clock: None,
            invalid_data: InvalidDataPolicy::default(),
            checks: Vec::new(),
            last_seen_interval: Some(DEFAULT_LAST_SEEN_INTERVAL),
            moved_grace: DEFAULT_MOVED_GRACE,
            max_sessions_per_user: None,
        }
    }
}

impl SessionServiceBuilder {
    /// The store (required).
    pub fn store(mut self, store: impl SessionStore) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// A store already shared.
    pub fn shared_store(mut self, store: Arc<dyn SessionStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Adds a key; the first key added signs, all verify (required: at least one).
    pub fn key(mut self, key: Key) -> Self {
        self.keys.push(key);
        self
    }

    /// Adds every key of a list.
    pub fn keys(mut self, keys: &SigningKeys) -> Self {
        self.keys.extend(keys.all().iter().cloned());
        self
    }

    /// The name bound into token signatures: the cookie name. Default `id`.
    pub fn token_context(mut self, name: impl Into<String>) -> Self {
        self.context = Some(name.into());
        self
    }

    /// The expiry policy.
    pub fn expiry(mut self, expiry: ExpiryPolicy) -> Self {
        self.expiry = expiry;
        self
    }

    /// The clock (share it with the store).
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// How stale a session's recorded use (`last_seen`) may get before a
    /// request that only reads it records it, so that a user's listing
    /// orders sessions by last use, reads included. Default
    /// [`DEFAULT_LAST_SEEN_INTERVAL`] (a minute): sessions used within the
    /// same minute by reads alone may list in either order. The recording
    /// is one store write of `last_seen` alone (no data, no expiry, no
    /// cookie of its own), done only for sessions bound to a user on
    /// server-side stores with a per-user index: an anonymous session is in
    /// no listing, the cookie store lists nothing, and its cookie would
    /// carry the loaded data over a concurrent request's change. A store
    /// failing it is logged; the read is answered anyway. (On a server-side
    /// store, a cookie verified by an older key also writes `last_seen`
    /// once, whatever this says: its re-issue waits for the store to
    /// confirm the session.)
    pub fn last_seen_interval(mut self, interval: Duration) -> Self {
        self.last_seen_interval = Some(interval);
        self
    }

    /// Records a session's use only with its writes and expiry refreshes: a
    /// request that only reads then writes nothing but a due refresh (or
    /// the confirmation of an older key's re-issue), and a user's listing
    /// orders sessions by their last write.
    pub fn no_last_seen_on_reads(mut self) -> Self {
        self.last_seen_interval = None;
        self
    }

    /// How long a session moved by a login or rotation leaves a marker
    /// under a key derived from its old id (default [`DEFAULT_MOVED_GRACE`], a minute). A
    /// request the browser sent with the old token before the login's
    /// answer came back may reach the server after the move; without the
    /// marker its write would start a new anonymous session whose cookie
    /// replaces the login's, logging the browser out. With it, the write is
    /// dropped and logged as one whose session went during the request is,
    /// and the cookie is left alone. The marker holds nothing of the
    /// session but, when the same user stays logged in, its new id, which
    /// only a logout or revocation follows (an old id someone else planted
    /// gains nothing). It costs one store write per move, and one store
    /// read for each request whose token names a session that is gone and
    /// for each logout. `Duration::ZERO` leaves no marker. Server-side
    /// stores only: a cookie store's old cookie still holds its session.
    pub fn moved_grace(mut self, grace: Duration) -> Self {
        self.moved_grace = grace;
        self
    }

    /// The most sessions one user keeps: a login (and
    /// [`create_session`](SessionService::create_session)) that takes a
    /// user past it ends that user's least recently used sessions, never
    /// the new one. Without it, a user's sessions are bounded only by
    /// expiry: a client with valid credentials could log in again and
    /// again, each login a stored session, with no cookie to reuse (a
    /// store's cap on anonymous sessions lets logins through).
    ///
    /// It costs a login one listing of the user's sessions, and a delete
    /// for each one ended (a session that another request of its browser
    /// rotated meanwhile is followed to its new id and ended there); a
    /// failure of either is logged and the login stands. Of logins of one user at the same moment, none ends a
    /// session created after its own, so the last one's session stays
    /// (never none of them); they may each miss the other's new session,
    /// leaving one more than the limit until the next login. "Least
    /// recently used" is as the listing orders sessions (see
    /// [`last_seen_interval`](Self::last_seen_interval)). The store must
    /// keep a per-user index ([`build`](Self::build) fails otherwise), and
    /// the limit is at least 1. No limit by default.
    pub fn max_sessions_per_user(mut self, max: usize) -> Self {
        self.max_sessions_per_user = Some(max);
        self
    }

    /// What to do with stored data that fails to decode or validate.
    pub fn invalid_data(mut self, policy: InvalidDataPolicy) -> Self {
        self.invalid_data = policy;
        self
    }

    /// Checks every loaded session's data as `T` (decode, then
    /// [`SessionData::validate`]) right after the load, before anything reads
    /// it. Data that fails means no session for the whole request, its
    /// binding too (no user: guarded routes answer 401); the stored record is
    /// left as it is, a write starts a new session, and a logout still
    /// deletes it. Under [`InvalidDataPolicy::Fail`], reading the session's
    /// data ([`typed`](SessionService::typed)) also fails, for any type.
    /// Without a check, only a read of the type that fails finds out, and the
    /// binding stays in use. Call once per type; each check decodes the
    /// stored data once per load.
    pub fn check_data<T: SessionData>(mut self) -> Self {
        self.checks.push(DataCheck::of::<T>());
        self
    }

    /// Builds the service.
    pub fn build(self) -> Result<SessionService, SessionError> {
        let store = self
            .store
            .ok_or_else(|| SessionError::Config("a session store is required".into()))?;
        if self.keys.is_empty() {
            return Err(SessionError::Config(
                "a signing key is required: call .key(..) or .keys(..) (.secret(..) on the app builder)".into(),
            ));
        }
        let keys = SigningKeys::new(self.keys)?;
        self.expiry.validate()?;
        match self.max_sessions_per_user {
            Some(0) => {
                return Err(SessionError::Config(
                    "max_sessions_per_user must be at least 1".into(),
                ));
            }
            Some(_) if !store.capabilities().user_index => {
                return Err(SessionError::Config(format!(
                    "max_sessions_per_user needs a store with a per-user index, which the {} store does not keep",
                    store.name()
                )));
            }
            _ => {}
        }
        let context = self
            .context
            .unwrap_or_else(|| DEFAULT_COOKIE_NAME.to_owned());
        // A context no cookie name can be (`;`): nothing else signed
        // with these keys verifies as a list, nor a list as anything else.
        let ended_signer = store
            .client_side()
            .map(|_| TokenSigner::new(keys.clone(), format!("{context};ended")));
        Ok(SessionService {
            inner: Arc::new(Inner {
                store,
                ended_signer,
                signer: TokenSigner::new(keys, context),
                expiry: self.expiry,
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
                invalid_data: self.invalid_data,
                checks: self.checks.into(),
                last_seen_interval: self.last_seen_interval,
                moved_grace: self.moved_grace,
                max_sessions_per_user: self.max_sessions_per_user,
                token_reports: Default::default(),
            }),
        })
    }
}
