use async_trait::async_trait;
use http::request::Parts;

use crate::Principal;

/// An app's own way to authenticate a request (an API key, a JWT), run by the
/// [`AuthInterceptor`](crate::AuthInterceptor) when the session token gives
/// no principal. Authenticators run in the order they were added; the first
/// principal wins. Returning `None` means "not mine"; never fail the request
/// from here.
#[async_trait]
pub trait Authenticator: Send + Sync + 'static {
    /// The principal this request proves, if any.
    async fn authenticate(&self, parts: &Parts) -> Option<Principal>;
}
