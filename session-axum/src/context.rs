//! Per-request session context shared by the interceptors and extractors.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::Mutex;
use session_core::{SessionCell, SessionId, SessionService};

use crate::Principal;
use crate::app::WebConfig;
use crate::error::BearerStatus;

/// Where the request's token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    /// No token.
    None,
    /// The session cookie.
    Cookie,
    /// `Authorization: Bearer`.
    Bearer,
}

/// The request's session state, put in the request extensions by the
/// [`AuthInterceptor`](crate::AuthInterceptor).
#[derive(Clone, Debug)]
pub struct RequestSession {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    cell: SessionCell,
    service: SessionService,
    config: Arc<WebConfig>,
    source: TokenSource,
    principal: Mutex<Option<Principal>>,
    // The principal came from an app `Authenticator`, not the session.
    by_app: bool,
    // Bearer logins hand the token over in the body; no cookie then.
    suppress_cookie: AtomicBool,
    // A login handed out a bearer token, for the response body.
    token_handed_out: AtomicBool,
    // The handler (an extractor) or a guard read the session: the
    // response depends on it.
    read: AtomicBool,
    // The session this request created, once persist stored it: its id is
    // made as it is stored.
    persisted: OnceLock<SessionId>,
    // Persist ran, or was found to have nothing to do: the session the
    // request ends up on is known.
    settled: AtomicBool,
    // A watch of the session's end waits for `settled`: only then does
    // settling wake it (most requests have none, and skip the lock).
    watched: AtomicBool,
    // Wakes a watch of the session's end waiting for `settled`.
    on_settled: tokio::sync::Notify,
}

impl RequestSession {
    pub(crate) fn new(
        cell: SessionCell,
        service: SessionService,
        config: Arc<WebConfig>,
        source: TokenSource,
        principal: Option<Principal>,
        by_app: bool,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                cell,
                service,
                config,
                source,
                principal: Mutex::new(principal),
                by_app,
                suppress_cookie: AtomicBool::new(source == TokenSource::Bearer),
                token_handed_out: AtomicBool::new(false),
                read: AtomicBool::new(false),
                persisted: OnceLock::new(),
                settled: AtomicBool::new(false),
                watched: AtomicBool::new(false),
                on_settled: tokio::sync::Notify::new(),
            }),
        }
    }

    /// Records that the response depends on the session: an extractor or
    /// a guard read it.
    pub(crate) fn mark_read(&self) {
        self.inner.read.store(true, Ordering::Relaxed);
    }

    /// Whether an extractor or a guard read the session.
    pub(crate) fn was_read(&self) -> bool {
        self.inner.read.load(Ordering::Relaxed)
    }

    /// Records the session persist created.
    pub(crate) fn set_persisted(&self, id: SessionId) {
        // Persist runs once a request.
        let _ = self.inner.persisted.set(id);
    }

    /// Records that the request's session is settled: persist ran (or had
    /// nothing to do, or was skipped for a failed response).
    pub(crate) fn settle(&self) {
        // SeqCst with `settled()`: either it sees `settled`, or this sees
        // `watched` and wakes it.
        self.inner.settled.store(true, Ordering::SeqCst);
        if self.inner.watched.load(Ordering::SeqCst) {
            self.inner.on_settled.notify_waiters();
        }
    }

    /// A guard that [settles](Self::settle) the session when dropped: held
    /// around the handler and persist, the one place a request settles, so
    /// that one that never gets to persist (a handler that panicked, a
    /// request dropped when its client went away) still wakes a watch of
    /// its session's end, which then finds no new session stored.
    pub(crate) fn settle_on_drop(&self) -> SettleOnDrop<'_> {
        SettleOnDrop(self)
    }

    /// Waits until [`settle`](Self::settle) ran.
    pub(crate) async fn settled(&self) {
        let mut notified = std::pin::pin!(self.inner.on_settled.notified());
        // Registered, then announced, before the flag is read: a settle in
        // between wakes it.
        notified.as_mut().enable();
        self.inner.watched.store(true, Ordering::SeqCst);
        if self.inner.settled.load(Ordering::SeqCst) {
            return;
        }
        notified.await;
    }

    /// Whether [`settle`](Self::settle) ran.
    pub(crate) fn is_settled(&self) -> bool {
        self.inner.settled.load(Ordering::SeqCst)
    }

    /// The session the request ends up on: the one in use, or after
    /// persist the one it created (`None` for a session not stored yet,
    /// and after a logout).
    pub(crate) fn current_id(&self) -> Option<SessionId> {
        match self.inner.persisted.get() {
            Some(id) => Some(*id),
            None => self.inner.cell.lock().id(),
        }
    }

    /// The session state.
    pub fn cell(&self) -> &SessionCell {
        &self.inner.cell
    }

    /// The session service.
    pub fn service(&self) -> &SessionService {
        &self.inner.service
    }

    pub(crate) fn config(&self) -> &WebConfig {
        &self.inner.config
    }

    /// Where the token came from.
    pub fn source(&self) -> TokenSource {
        self.inner.source
    }

    /// Where the request stands with bearer tokens: decides the
    /// `WWW-Authenticate` challenge of a refusal (see [`BearerStatus`]).
    pub fn bearer_status(&self) -> BearerStatus {
        match (self.inner.config.bearer, self.inner.source) {
            (false, _) => BearerStatus::Off,
            (true, TokenSource::Bearer) => BearerStatus::Presented,
            (true, _) => BearerStatus::Absent,
        }
    }

    /// Whether the session's login is at most `within` old (see
    /// [`Auth::logged_in_at`](crate::Auth::logged_in_at)); `false` without
    /// a login.
    pub(crate) fn logged_in_within(&self, within: Duration) -> bool {
        let now = self.service().clock().now();
        let at = self.inner.cell.lock().logged_in_at();
        at.is_some_and(|at| now.since(at) <= within)
    }

    /// The current principal, following what the request did to its
    /// session through [`Auth`](crate::Auth) or the typed handle: none once
    /// the session is destroyed (an app authenticator's too), the new
    /// binding's after a login. Reads the session state: not while holding
    /// [`cell`](Self::cell)'s lock.
    pub fn principal(&self) -> Option<Principal> {
        let stored = self.inner.principal.lock().clone();
        let state = self.inner.cell.lock();
        if state.is_destroyed() {
            return None;
        }
        match state.binding() {
            Some(binding) => match stored {
                // The login the request was admitted with or made through
                // `Auth`: it keeps the id it was loaded under.
                Some(p)
                    if p.session_id.is_some()
                        && p.user_id == binding.user_id
                        && p.permissions == binding.permissions
                        && p.details == binding.meta =>
                {
                    Some(p)
                }
                _ => Some(Principal::from_binding(binding, state.id())),
            },
            // No login in sight: an app authenticator's principal, or the
            // session's while its data is set aside as invalid (the login
            // stays in use), unless a logout ran since.
            None => stored.filter(|_| !state.logged_out()),
        }
    }

    /// Whether the principal the request was admitted with came from one of
    /// the app's [`Authenticator`](crate::Authenticator)s rather than from
    /// its session (a login or logout in the request does not change this).
    pub fn authenticated_by_app(&self) -> bool {
        self.inner.by_app
    }

    pub(crate) fn set_principal(&self, principal: Option<Principal>) {
        *self.inner.principal.lock() = principal;
    }

    pub(crate) fn suppress_cookie(&self) {
        self.inner.suppress_cookie.store(true, Ordering::Relaxed);
    }

    pub(crate) fn cookie_suppressed(&self) -> bool {
        self.inner.suppress_cookie.load(Ordering::Relaxed)
    }

    pub(crate) fn hand_out_token(&self) {
        self.inner.token_handed_out.store(true, Ordering::Relaxed);
    }

    /// Whether a login in this request handed out a bearer token, which the
    /// response may carry in its body.
    pub(crate) fn token_handed_out(&self) -> bool {
        self.inner.token_handed_out.load(Ordering::Relaxed)
    }
}

/// Settles a request's session when dropped (see
/// [`RequestSession::settle_on_drop`]).
pub(crate) struct SettleOnDrop<'a>(&'a RequestSession);

impl Drop for SettleOnDrop<'_> {
    fn drop(&mut self) {
        self.0.settle();
    }
}
