//! The end of a request's session, for a socket or stream that outlives
//! the request and must close with the session.

use std::future::Future;
use std::time::Duration;

use session_core::SessionId;

use super::Auth;
use crate::context::RequestSession;
use crate::error::SessionRejection;

/// Checks closer together than this would load the store for nothing.
const MIN_EVERY: Duration = Duration::from_millis(10);

impl Auth {
    /// Completes once the session this request ends up on is gone: logged
    /// out, revoked, expired, or replaced by a login elsewhere (its id
    /// rotated). A WebSocket or server-sent event stream holds the
    /// session as its handshake saw it; select on this future to close it
    /// with the session.
    ///
    /// The store is asked every `every` (at least 10 ms), the first time
    /// one `every` after the future is first polled, which in
    /// `on_upgrade` or a stream's body is after the handshake's session
    /// was stored: a session this request created or logged in is watched
    /// too. It completes at once when the request ends with no session
    /// (a logout in it). While the store is unavailable it keeps waiting:
    /// an outage does not close every socket. The socket refreshes no
    /// expiry, so a session used by nothing else expires after its idle
    /// lifetime and this completes then.
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
    pub fn session_end(
        &self,
        every: Duration,
    ) -> Result<impl Future<Output = ()> + Send + 'static, SessionRejection> {
        let session = self.session.clone();
        let service = session.service();
        if service.store().client_side().is_some() {
            tracing::error!(
                "Auth::session_end used with a client-side store, which keeps no session the server can ask about"
            );
            return Err(SessionRejection::Unsupported);
        }
        Ok(watch(session, every.max(MIN_EVERY)))
    }
}

async fn watch(session: RequestSession, every: Duration) {
    // Read when first polled: the handshake's new session has an id only
    // once it is stored.
    let Some(id) = session.current_id() else {
        return;
    };
    let service = session.service().clone();
    drop(session);
    let start = tokio::time::Instant::now() + every;
    let mut ticks = tokio::time::interval_at(start, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if ended(&service, &id).await {
            return;
        }
    }
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
