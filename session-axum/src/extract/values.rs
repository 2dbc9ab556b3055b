use std::ops::Deref;

use axum::extract::FromRequestParts;
use http::request::Parts;

use super::request_session;
use crate::error::SessionRejection;

/// The request's session data as named values, without a type:
/// `values.get::<u64>("visits")?`, `values.insert("visits", &n)?`,
/// `values.remove("theme")`. It dereferences to
/// [`session_core::SessionValues`]; its errors (a value that does not
/// decode or encode) answer 500 through `?`. Changes are persisted after
/// the handler returns, as [`Session<T>`](crate::Session)'s are, and
/// nothing is created for a request that only reads.
///
/// ```
/// use session_axum::prelude::*;
///
/// async fn visit(values: SessionValues) -> Result<String, SessionRejection> {
///     let visits = values.get::<u64>("visits")?.unwrap_or(0) + 1;
///     values.insert("visits", &visits)?;
///     Ok(format!("visit {visits}"))
/// }
/// # let _ = session_axum::axum::Router::<()>::new()
/// #     .route("/", session_axum::axum::routing::get(visit));
/// ```
#[derive(Clone, Debug)]
pub struct SessionValues(session_core::SessionValues);

impl<S: Send + Sync> FromRequestParts<S> for SessionValues {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let session = request_session(parts)?;
        Ok(Self(session_core::SessionValues::new(
            session.cell().clone(),
        )))
    }
}

impl Deref for SessionValues {
    type Target = session_core::SessionValues;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}
