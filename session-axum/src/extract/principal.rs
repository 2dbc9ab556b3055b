use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use http::header;
use http::request::Parts;
use session_core::token::is_bearer_scheme;

use super::request_session;
use crate::Principal;
use crate::error::SessionRejection;

/// Extracting `Principal` answers 401 when the request has none; extract
/// `Option<Principal>` to handle that case yourself.
impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        request_session(parts)?
            .principal()
            .ok_or(SessionRejection::Unauthorized {
                bearer: is_bearer_request(parts),
            })
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

pub(crate) fn is_bearer_request(parts: &Parts) -> bool {
    parts
        .headers
        .get(header::AUTHORIZATION)
        .is_some_and(|v| is_bearer_scheme(v.as_bytes()))
}
