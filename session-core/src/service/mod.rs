//! [`SessionService`]: load, get-or-create, persist, destroy, login, and the
//! per-user calls (list, revoke), with no web framework.

mod builder;
mod check;
mod ended;
mod fence;
mod handles;
mod load;
mod moves;
mod outcome;
mod permissions;
mod persist;
mod reports;
mod user_limit;
mod users;

pub use builder::{
    DEFAULT_COOKIE_NAME, DEFAULT_LAST_SEEN_INTERVAL, DEFAULT_MOVED_GRACE, SessionServiceBuilder,
};
pub use outcome::{CookieAction, PersistOutcome, Persisted};

use std::sync::Arc;

use crate::ExpiryPolicy;
use crate::clock::SharedClock;
use crate::store::SessionStore;
use crate::token::TokenSigner;

/// What to do when stored data fails to decode or validate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InvalidDataPolicy {
    /// Log it and go on as if there were no session; the stored record is left
    /// untouched (a write starts a new session). The default.
    #[default]
    Discard,
    /// Fail the request with [`SessionError::Data`](crate::SessionError::Data).
    Fail,
}

/// Framework-agnostic sessions over one store.
///
/// The request cycle is: [`load`](Self::load) from the token (nothing is
/// created), read and change through a [`Session<T>`](crate::Session), then
/// [`persist`](Self::persist), which writes only what changed and says which
/// cookie to send.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use session_core::{Binding, Key, MemoryStore, SessionService};
///
/// let sessions = SessionService::builder()
///     .store(MemoryStore::new())
///     .key(Key::generate())
///     .build()
///     .unwrap();
///
/// // authsessions-style calls.
/// let id = sessions
///     .create_session(Binding::user("ada").with_label("laptop"))
///     .await
///     .unwrap();
/// let token = sessions.token_for(&id);
/// assert_eq!(sessions.session_id_from_token(&token), Some(id));
/// assert_eq!(sessions.user_id(&id).await.unwrap().as_deref(), Some("ada"));
/// assert_eq!(sessions.list_for_user("ada").await.unwrap().len(), 1);
/// sessions.destroy_session(&id).await.unwrap();
/// assert!(sessions.list_for_user("ada").await.unwrap().is_empty());
/// # });
/// ```
#[derive(Clone, Debug)]
pub struct SessionService {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn SessionStore>,
    signer: TokenSigner,
    /// A client-side store's: signs the ended-sessions cookie (see
    /// [`SessionService::check_ended`]).
    ended_signer: Option<TokenSigner>,
    expiry: ExpiryPolicy,
    clock: SharedClock,
    invalid_data: InvalidDataPolicy,
    /// Checks of the stored data at load (none unless the app asked).
    checks: Box<[check::DataCheck]>,
    /// Reads record their use once the last one is this old (off when `None`).
    last_seen_interval: Option<std::time::Duration>,
    /// How long a move's marker stays under the old id (none when zero).
    moved_grace: std::time::Duration,
    /// The most sessions a login leaves its user (no limit when `None`).
    max_sessions_per_user: Option<usize>,
    /// Tokens no key verified, and live sessions an older key signed, for
    /// the operators' summaries.
    token_reports: reports::TokenReports,
}

impl SessionService {
    /// Starts configuring a service.
    pub fn builder() -> SessionServiceBuilder {
        SessionServiceBuilder::default()
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn SessionStore> {
        &self.inner.store
    }

    /// The token signer (keys and cookie name).
    pub fn signer(&self) -> &TokenSigner {
        &self.inner.signer
    }

    /// The expiry policy.
    pub fn expiry(&self) -> &ExpiryPolicy {
        &self.inner.expiry
    }

    /// The clock.
    pub fn clock(&self) -> &SharedClock {
        &self.inner.clock
    }

    /// What happens to invalid stored data.
    pub fn invalid_data_policy(&self) -> InvalidDataPolicy {
        self.inner.invalid_data
    }
}
