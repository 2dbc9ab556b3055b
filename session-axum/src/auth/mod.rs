//! Authentication: the [`AuthInterceptor`] establishes the request's principal.

mod authenticator;
mod interceptor;

pub use authenticator::Authenticator;
pub use interceptor::AuthInterceptor;
