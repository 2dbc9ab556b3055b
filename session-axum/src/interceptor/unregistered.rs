//! Interceptors an app names itself, left out of the registry.

use super::InterceptorRegistration;

/// An interceptor an app names itself: `#[interceptor(registry = false)]`
/// implements it instead of submitting the interceptor to the registry, so
/// that only apps given it with
/// [`AppBuilder::add_interceptor`](crate::AppBuilder::add_interceptor) run
/// it (an audit of an internal admin port, beside a public app in the same
/// binary). It is ordered with the app's other interceptors by its
/// `depends_on` / `runs_before`, as a registered one is; a registered
/// interceptor that names it in its own makes every app built with the
/// registry add it (or fail to build, naming the missing dependency). One
/// such interceptor per type.
///
/// ```
/// use session_axum::prelude::*;
/// use session_axum::AuthInterceptor;
/// use session_axum::axum::{extract::Request, response::Response};
///
/// #[derive(Default)]
/// struct AdminAudit;
///
/// #[interceptor(registry = false, depends_on = [AuthInterceptor])]
/// #[async_trait]
/// impl Interceptor for AdminAudit {
///     async fn intercept(&self, request: Request, next: Next) -> Response {
///         tracing::info!(user = ?Principal::of(&request).map(|p| p.user_id), "admin request");
///         next.run(request).await
///     }
/// }
///
/// let builder = || App::builder().store(MemoryStore::new()).secret(Key::generate());
/// // Run here only, not by an app built from the registry alone.
/// let admin = builder().add_interceptor::<AdminAudit>().build()?;
/// assert!(admin.interceptor_order().contains(&"AdminAudit"));
/// let public = builder().build()?;
/// assert!(!public.interceptor_order().contains(&"AdminAudit"));
/// # Ok::<(), session_axum::BuildError>(())
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an interceptor that apps add themselves",
    label = "not declared `#[interceptor(registry = false)]`",
    note = "a registered interceptor runs in every app built with the registry: `add_interceptor` is for interceptors declared with `registry = false`"
)]
pub trait UnregisteredInterceptor {
    /// The interceptor's registration: its dependencies and how it is built.
    const REGISTRATION: &'static InterceptorRegistration;
}
