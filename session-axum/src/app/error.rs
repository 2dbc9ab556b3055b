use session_core::SessionError;

use crate::interceptor::OrderError;
use crate::path::PathError;

/// Why the app could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The session configuration is unusable (no store, no key, bad expiry).
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The session cookie's name, path or domain is unusable.
    #[error(transparent)]
    Cookie(#[from] crate::cookie::CookieConfigError),
    /// The realm of the `WWW-Authenticate` challenges cannot be sent as it is
    /// ([`AppBuilder::realm`](crate::AppBuilder::realm)).
    #[error("WWW-Authenticate realm: {0}")]
    Realm(#[from] crate::error::RealmError),
    /// The login page is not a path on this site
    /// ([`AppBuilder::login_page`](crate::AppBuilder::login_page)).
    #[error(transparent)]
    LoginPage(#[from] crate::login_page::LoginPageError),
    /// An origin given to
    /// [`AppBuilder::trusted_origin`](crate::AppBuilder::trusted_origin)
    /// is no origin, or a path given to
    /// [`AppBuilder::cross_origin_exempt`](crate::AppBuilder::cross_origin_exempt)
    /// no path.
    #[error(transparent)]
    TrustedOrigin(#[from] crate::cross_origin::OriginError),
    /// The interceptors cannot be ordered.
    #[error(transparent)]
    Order(#[from] OrderError),
    /// A route path is malformed.
    #[error("controller `{controller}`: {source}")]
    Path {
        /// The controller.
        controller: &'static str,
        /// What is wrong.
        source: PathError,
    },
    /// A route is declared with a method the router cannot route on its
    /// own (an extension method such as `PURGE`).
    #[error(
        "controller `{controller}`: {method} {path}: routes are declared with a standard method (GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, TRACE, CONNECT)"
    )]
    Method {
        /// The controller.
        controller: &'static str,
        /// The method.
        method: String,
        /// The route's full path.
        path: String,
    },
    /// Two routes answer the same method and path.
    #[error("{method} {path} is declared twice (by `{first}` and `{second}`)")]
    DuplicateRoute {
        /// The method.
        method: String,
        /// The path.
        path: String,
        /// The first declaring controller.
        first: &'static str,
        /// The second declaring controller.
        second: &'static str,
    },
    /// The router refused a route (conflicting parameter names, overlapping wildcards).
    #[error("route `{path}` conflicts with another route: {message}")]
    RouteConflict {
        /// The path.
        path: String,
        /// The router's message.
        message: String,
    },
    /// A controller or interceptor needs a value the app did not provide.
    #[error("`{needed_by}` needs a `{type_name}`; add it with AppBuilder::provide")]
    Missing {
        /// What needs it.
        needed_by: &'static str,
        /// The missing type.
        type_name: &'static str,
    },
    /// A controller or interceptor failed to build.
    #[error("`{name}` failed to build: {message}")]
    Component {
        /// The component.
        name: &'static str,
        /// Why.
        message: String,
    },
}
