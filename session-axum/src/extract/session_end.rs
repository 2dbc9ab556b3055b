//! The end of a request's session, for a socket or stream that outlives
//! the request and must close with the session.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use rand::Rng as _;
use session_core::SessionId;
use sync_wrapper::SyncWrapper;

use super::Auth;
use crate::context::RequestSession;
use crate::error::SessionRejection;

/// Checks closer together than this would load the store for nothing.
const MIN_EVERY: Duration = Duration::from_millis(10);

/// The future [`Auth::session_end`] returns: completes once the watched
/// session is gone. A type of its own, so that it can be kept in a struct
/// field; `Send` and `'static`, so that a spawned task can hold it; `Sync`,
/// so that a struct shared by reference (axum state, an `Arc`) can too.
#[must_use = "a future does nothing unless polled"]
pub struct SessionEnd {
    // Polling takes `&mut`, so a shared reference gives no access: Sync
    // whatever the store's futures are.
    inner: SyncWrapper<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl Future for SessionEnd {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().inner.get_mut().as_mut().poll(cx)
    }
}

impl fmt::Debug for SessionEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionEnd").finish_non_exhaustive()
    }
}

impl Auth {
    /// Completes once the session this request ends up on is gone: logged
    /// out, revoked, expired, or replaced by a login elsewhere (its id
    /// rotated). A WebSocket or server-sent event stream holds the
    /// session as its handshake saw it; select on this future (a
    /// [`SessionEnd`], which a struct can keep in a field) to close it
    /// with the session.
    ///
    /// The store is asked every `every` (at least 10 ms): the first time
    /// after a random pause between half an `every` and one `every` from
    /// when the future is first polled (so that sockets opened together do
    /// not all ask at once), then each time one `every` after the previous
    /// answer. A session this request creates or logs in is watched too:
    /// polled before the request's session is stored (in the handler
    /// itself, or in a task it spawned that runs first), the future waits
    /// for the request to store it rather than take a session not stored
    /// yet for a gone one (the first check's pause then starts once it
    /// was stored), and keeps the request's session until then. It
    /// completes at once after a logout in this request that no login
    /// followed. While the store is unavailable it keeps waiting: an
    /// outage does not close every socket. The socket refreshes no expiry,
    /// so a session used by nothing else expires after its idle lifetime
    /// and this completes then.
    ///
    /// Await it in the socket's task (`on_upgrade`, a spawned task), not to
    /// its end in the handler itself: for a request whose session is not
    /// stored yet (a new one, or none: it then completes once the request
    /// is done, there being nothing to watch) it waits for the request to
    /// finish, which waits for the handler.
    ///
    /// Fails with [`SessionRejection::Unsupported`] on a client-side
    /// store (`CookieStore`): the session lives in the browser's cookie,
    /// which the server cannot ask about.
    ///
    /// ```
    /// use session_axum::prelude::*;
    /// use std::time::Duration;
    ///
    /// // With axum's `ws` feature: `ws.on_upgrade(move |socket| async move { .. })`.
    /// async fn watch_feed(auth: Auth) -> Result<&'static str, SessionRejection> {
    ///     auth.require()?;
    ///     let ended = auth.session_end(Duration::from_secs(30))?;
    ///     tokio::spawn(async move {
    ///         tokio::select! {
    ///             () = ended => {} // logged out or revoked: stop feeding
    ///             () = feed() => {}
    ///         }
    ///     });
    ///     Ok("watching")
    /// }
    /// # async fn feed() {}
    /// # let _ = session_axum::axum::Router::<()>::new()
    /// #     .route("/feed", session_axum::axum::routing::get(watch_feed));
    /// ```
    pub fn session_end(&self, every: Duration) -> Result<SessionEnd, SessionRejection> {
        let session = self.session.clone();
        let service = session.service();
        if service.store().client_side().is_some() {
            tracing::error!(
                "Auth::session_end used with a client-side store, which keeps no session the server can ask about"
            );
            return Err(SessionRejection::Unsupported);
        }
        Ok(SessionEnd {
            inner: SyncWrapper::new(Box::pin(watch(session, every.max(MIN_EVERY)))),
        })
    }
}

async fn watch(session: RequestSession, every: Duration) {
    let service = session.service().clone();
    let Some(id) = watched_id(session).await else {
        return;
    };
    let mut pause = first_check_after(every);
    loop {
        // A pause after each answer, not a fixed rate: a check slower than
        // `every` (a store timing out) is not followed by another at once.
        tokio::time::sleep(pause).await;
        if ended(&service, &id).await {
            return;
        }
        pause = every;
    }
}

/// The pause before the first check: a random point between half an
/// `every` and one, so that sockets opened together (a reconnect storm)
/// spread their checks instead of asking the store in step.
fn first_check_after(every: Duration) -> Duration {
    rand::rng().random_range(every / 2..=every)
}

/// The session to watch: the one the request ends up on (`None`: none, a
/// logout in it). Once the request's session is settled that is known;
/// before (the future polled in the handler, or in a task it spawned that
/// ran first), a session in use as it was loaded is the one, a logout
/// without a login after it leaves none, and a session this request creates
/// or moves to has no record until persist stores it: that is waited for.
/// The request's session is dropped once the id is known.
async fn watched_id(session: RequestSession) -> Option<SessionId> {
    if !session.is_settled() {
        {
            let state = session.cell().lock();
            let id = state.id();
            if id.is_none() && state.logged_out() {
                return None;
            }
            if let Some(id) = id
                && state.record().map(|r| r.id) == Some(id)
            {
                return Some(id);
            }
        }
        session.settled().await;
    }
    session.current_id()
}

/// Whether the session is gone; `false` while the store cannot say.
async fn ended(service: &session_core::SessionService, id: &SessionId) -> bool {
    match service.record(id).await {
        Ok(Some(_)) => false,
        Ok(None) => {
            tracing::debug!(session = %id.short(), "watched session ended");
            true
        }
        Err(error) if error.is_unavailable() => {
            tracing::debug!(session = %id.short(), %error, "watched session: store unavailable; still waiting");
            false
        }
        Err(error) => {
            // A record that cannot be read is one no request can load either.
            tracing::warn!(session = %id.short(), %error, "watched session could not be read; taken as ended");
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sockets opened together do not all ask at the same moment: each
    /// first check comes between half an interval and one.
    #[test]
    fn the_first_check_comes_at_a_random_point_of_the_second_half_of_the_interval() {
        for every in [MIN_EVERY, Duration::from_secs(30), Duration::MAX] {
            let draws: Vec<Duration> = (0..64).map(|_| first_check_after(every)).collect();
            assert!(
                draws.iter().all(|d| (every / 2..=every).contains(d)),
                "{every:?}: {draws:?}"
            );
            assert!(
                draws.iter().any(|d| *d != draws[0]),
                "{every:?}: always {:?}",
                draws[0]
            );
        }
    }
}
