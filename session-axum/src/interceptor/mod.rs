//! Interceptors: code that wraps every request, registered through a registry
//! and ordered by declared dependencies.

mod chain;
mod order;
mod registration;
mod unregistered;

pub use chain::Next;
pub(crate) use chain::{InterceptorLayer, Steps};
pub use order::OrderError;
pub(crate) use order::resolve_order;
pub(crate) use registration::display_name;
pub use registration::{InterceptorRef, InterceptorRegistration};
pub use unregistered::UnregisteredInterceptor;

use async_trait::async_trait;
use axum::extract::Request;
use axum::response::Response;

/// Code that runs around every request: it sees the request, calls the rest of
/// the chain through [`Next`], and sees the response.
///
/// Register an implementation with `#[interceptor(depends_on = [..], runs_before = [..])]`
/// (or [`InterceptorRegistration`] by hand); the app orders all registered
/// interceptors so that each runs inside the ones it depends on. One that
/// only some apps of a binary run is declared `#[interceptor(registry =
/// false)]` and added to those apps (see [`UnregisteredInterceptor`]).
///
/// ```
/// use session_axum::{Interceptor, Next};
/// use session_axum::axum::{extract::Request, response::Response};
///
/// #[derive(Default)]
/// struct Timing;
///
/// #[session_axum::async_trait]
/// impl Interceptor for Timing {
///     async fn intercept(&self, request: Request, next: Next) -> Response {
///         let started = std::time::Instant::now();
///         let response = next.run(request).await;
///         tracing::debug!(elapsed = ?started.elapsed(), "request done");
///         response
///     }
/// }
/// ```
///
/// One that needs the principal runs inside the auth interceptor and reads
/// it with [`Principal::of`](crate::Principal::of); `#[interceptor]` goes on
/// the `impl` block (or on the type), and builds the value with `Default`:
///
/// ```standalone_crate
/// use session_axum::prelude::*;
/// use session_axum::AuthInterceptor;
/// use session_axum::axum::{extract::Request, http::StatusCode, response::Response};
///
/// #[derive(Default)]
/// struct BanCheck;
///
/// #[interceptor(depends_on = [AuthInterceptor])]
/// #[async_trait]
/// impl Interceptor for BanCheck {
///     async fn intercept(&self, request: Request, next: Next) -> Response {
///         if Principal::of(&request).is_some_and(|p| p.user_id == "mallory") {
///             return StatusCode::FORBIDDEN.into_response();
///         }
///         next.run(request).await
///     }
/// }
///
/// let app = App::builder().store(MemoryStore::new()).secret(Key::generate()).build()?;
/// assert_eq!(app.interceptor_order(), ["AuthInterceptor", "SessionInterceptor", "BanCheck"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an interceptor",
    label = "this type does not implement `Interceptor`",
    note = "#[interceptor] registers, and `depends_on` / `runs_before` name, only types that implement `session_axum::Interceptor`"
)]
#[async_trait]
pub trait Interceptor: Send + Sync + 'static {
    /// Handles one request.
    async fn intercept(&self, request: Request, next: Next) -> Response;
}
