use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;

use super::request_session;
use crate::Principal;
use crate::error::SessionRejection;

/// Extracting `Principal` answers 401 when the request has none (with the
/// challenge of [`SessionRejection::unauthorized`]); extract
/// `Option<Principal>` to handle that case yourself.
impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let session = request_session(parts)?;
        session
            .principal()
            .ok_or_else(|| SessionRejection::unauthorized(&session))
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Principal {
    type Rejection = SessionRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(request_session(parts)?.principal())
    }
}
