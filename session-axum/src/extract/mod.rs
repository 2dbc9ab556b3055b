//! Extractors: [`Session<T>`], [`SessionValues`], [`Auth`],
//! [`Principal`](crate::Principal), [`Sessions`], and [`SessionEnd`], the
//! future of [`Auth::session_end`].

mod auth;
pub(crate) mod principal;
mod session;
mod session_end;
mod sessions;
mod values;

pub use auth::{Auth, LoggedIn, LoggedOut};
pub use session::Session;
pub use session_end::SessionEnd;
pub use sessions::Sessions;
pub use values::SessionValues;

use http::request::Parts;

use crate::context::RequestSession;
use crate::error::SessionRejection;

/// The request's session, for an extractor: the response then depends on
/// it (see [`RequestSession::mark_read`]).
pub(crate) fn request_session(parts: &Parts) -> Result<RequestSession, SessionRejection> {
    let session = parts.extensions.get::<RequestSession>().ok_or_else(|| {
        tracing::error!(
            path = %parts.uri.path(),
            "session extractor used on a route outside the session interceptors; add plain axum routes with AppBuilder::merge, not to the router App::into_router returns"
        );
        SessionRejection::MissingLayer
    })?;
    session.mark_read();
    Ok(session.clone())
}
