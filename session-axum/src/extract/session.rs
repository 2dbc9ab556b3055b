use std::fmt;
use std::ops::{Deref, DerefMut};

use axum::extract::FromRequestParts;
use http::request::Parts;
use session_core::SessionData;

use super::request_session;
use crate::error::{SessionRejection, log_error};

/// The request's typed session data, with change tracking.
///
/// It dereferences to [`session_core::Session<T>`] (flash, ids, user binding)
/// and through it to the tracked view of `T` (`session.age()`,
/// `session.set_age(v)`, `session.update_age(|v| ..)` for `#[session_data]`
/// types) and to `T` itself. Changes are persisted after the handler returns;
/// nothing is created for a request that only reads. Do not keep it past the
/// handler: changes made after the response is sent are discarded. A handler
/// cancelled midway by a timeout has its changes so far dropped when the
/// timeout wraps the app, or answers a 5xx (a 503 or 504); a timeout inside
/// the app answering a status below 500 (a 408) has them saved.
///
/// A handle moved out of the handler (into a WebSocket's `on_upgrade`, a
/// server-sent events stream, a spawned task) must be committed first:
/// changes reach the request's session when the handle is committed or
/// dropped, and persist runs as the handler returns, while the moved
/// handle lives on. Persist logs an error for a handle it finds changed
/// and not committed.
///
/// ```
/// use session_axum::prelude::*;
///
/// #[session_data]
/// #[derive(Debug, Clone, Default)]
/// pub struct Prefs {
///     pub exports: u64,
/// }
///
/// async fn export(mut session: Session<Prefs>) -> &'static str {
///     session.update_exports(|n| *n += 1);
///     session.commit().expect("a count encodes"); // saved with this response
///     tokio::spawn(async move {
///         // The handle may be read here; changes made here are not saved.
///         let _count = *session.exports();
///     });
///     "export started"
/// }
/// # let _: axum::Router = axum::Router::new().route("/export", axum::routing::post(export));
/// ```
pub struct Session<T: SessionData>(session_core::Session<T>);

impl<T: SessionData> Session<T> {
    /// The framework-agnostic handle.
    pub fn into_inner(self) -> session_core::Session<T> {
        self.0
    }
}

impl<T: SessionData, S: Send + Sync> FromRequestParts<S> for Session<T> {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let session = request_session(parts)?;
        let typed = session
            .service()
            .typed::<T>(session.cell())
            .map_err(|error| {
                // Logged with the session whose data failed, unlike a bare `?`.
                let rejection = SessionRejection::from(&error);
                log_error(&error, rejection, session.cell().lock().stored_id());
                rejection
            })?;
        Ok(Self(typed))
    }
}

impl<T: SessionData> Deref for Session<T> {
    type Target = session_core::Session<T>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<T: SessionData> DerefMut for Session<T> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl<T: SessionData + fmt::Debug> fmt::Debug for Session<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
