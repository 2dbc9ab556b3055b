use std::ops::Deref;

use axum::extract::FromRequestParts;
use http::request::Parts;
use session_core::SessionService;

use super::request_session;
use crate::error::SessionRejection;

/// The app's [`SessionService`], for listing and revoking a user's sessions
/// (authsessions' calls) inside a handler.
#[derive(Clone, Debug)]
pub struct Sessions(pub SessionService);

impl<S: Send + Sync> FromRequestParts<S> for Sessions {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(request_session(parts)?.service().clone()))
    }
}

impl Deref for Sessions {
    type Target = SessionService;
    fn deref(&self) -> &SessionService {
        &self.0
    }
}
