//! Controllers: groups of routes under a base path, collected from the registry.

use std::fmt;

use axum::routing::MethodRouter;
use http::Method;

use crate::Guard;
use crate::app::{AppContext, BuildError};

/// One route of a controller.
pub struct RouteDef {
    /// The HTTP method: the only one routed to the handler.
    pub method: Method,
    /// The path below the controller's base path (`/`-prefixed, `{param}` segments).
    pub path: &'static str,
    /// What the route requires of the principal.
    pub guard: Guard,
    /// The handler, answering `method` (`on(MethodFilter::GET, h)`, as
    /// the macros build it, or `get(h)` for `GET`). Requests of `method`
    /// alone reach it: its other methods and a fallback are never routed,
    /// and a handler that does not answer `method` leaves the route a 405
    /// (without the handler's `Allow`) and logs an error.
    pub handler: MethodRouter,
}

impl fmt::Debug for RouteDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouteDef")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("guard", &self.guard)
            .finish_non_exhaustive()
    }
}

/// A registered controller: `#[controller("/base")]` submits one to the
/// registry, or pass one to [`AppBuilder::controller`](crate::AppBuilder::controller).
///
/// A controller in a crate that nothing else names is never linked, and its
/// registration vanishes with it: name the crate somewhere, e.g. `use my_routes as _;`.
pub struct ControllerRegistration {
    /// The controller's name, for errors and logs: `#[controller]` gives
    /// the path of the module its `impl` block is in, then the type's name
    /// (`app::admin::Users`).
    pub name: &'static str,
    /// The base path every route sits under (`/` for none).
    pub base_path: &'static str,
    /// Builds the routes once, when the app is built.
    pub routes: fn(&AppContext) -> Result<Vec<RouteDef>, BuildError>,
}

impl fmt::Debug for ControllerRegistration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ControllerRegistration")
            .field("name", &self.name)
            .field("base_path", &self.base_path)
            .finish_non_exhaustive()
    }
}

inventory::collect!(ControllerRegistration);

/// A controller an app names itself: `#[controller("/base", registry =
/// false)]` implements it instead of submitting the controller to the
/// registry, so that only apps given it with
/// [`AppBuilder::add_controller`](crate::AppBuilder::add_controller)
/// serve its routes (an admin controller on an internal port, beside a
/// public app in the same binary). One such controller per type.
///
/// ```
/// use session_axum::prelude::*;
///
/// pub struct Admin;
///
/// #[controller("/admin", registry = false)]
/// impl Admin {
///     #[get("/")]
///     async fn index() -> &'static str {
///         "admin"
///     }
/// }
///
/// // Served here only, not by an app built from the registry alone.
/// let admin = App::builder().add_controller::<Admin>();
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a controller that apps add themselves",
    label = "not declared `#[controller(\"/base\", registry = false)]`",
    note = "a registered controller is served by every app built with the registry: `add_controller` is for controllers declared with `registry = false`"
)]
pub trait Controller {
    /// The controller's routes and base path.
    const REGISTRATION: &'static ControllerRegistration;
}
