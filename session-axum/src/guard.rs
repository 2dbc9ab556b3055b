//! Route guards: require a principal (401), a recent login (401) and
//! permissions (403), each with the `WWW-Authenticate` challenge the
//! request's [`BearerStatus`](crate::BearerStatus) calls for.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, Route};
use tower::{Layer, Service};

use crate::context::RequestSession;
use crate::error::SessionRejection;

/// What a route requires of the request's principal. Built from
/// [`OPEN`](Self::OPEN), [`AUTHENTICATED`](Self::AUTHENTICATED),
/// [`permissions`](Self::permissions) and [`recent_login`](Self::recent_login),
/// so that a requirement added later breaks no caller.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Guard {
    /// A principal is required (401 otherwise).
    pub authenticated: bool,
    /// Every one of these permissions is required (403 otherwise); implies `authenticated`.
    pub permissions: &'static [&'static str],
    /// The principal's session login must be at most this old (401
    /// otherwise, as [`Auth::require_recent_login`](crate::Auth::require_recent_login)
    /// answers); implies `authenticated`.
    pub recent_login: Option<Duration>,
}

impl Guard {
    /// No requirement.
    pub const OPEN: Guard = Guard {
        authenticated: false,
        permissions: &[],
        recent_login: None,
    };
    /// A principal is required.
    pub const AUTHENTICATED: Guard = Guard {
        authenticated: true,
        permissions: &[],
        recent_login: None,
    };

    /// A principal with every one of `permissions` is required.
    pub const fn permissions(permissions: &'static [&'static str]) -> Guard {
        Guard {
            authenticated: true,
            permissions,
            recent_login: None,
        }
    }

    /// This guard, and a principal whose session login is at most `within`
    /// old ("sudo mode": see [`Auth::require_recent_login`](crate::Auth::require_recent_login)).
    pub const fn recent_login(self, within: Duration) -> Guard {
        Guard {
            authenticated: true,
            permissions: self.permissions,
            recent_login: Some(within),
        }
    }

    /// Whether the guard lets every request through.
    pub fn is_open(&self) -> bool {
        !self.authenticated && self.permissions.is_empty() && self.recent_login.is_none()
    }

    /// Wraps a route in this guard, whatever the router's state type.
    ///
    /// ```
    /// use session_axum::Guard;
    /// use session_axum::axum::{Router, extract::State, routing::get};
    ///
    /// #[derive(Clone)]
    /// struct AppState { greeting: &'static str }
    ///
    /// async fn admin(State(state): State<AppState>) -> &'static str {
    ///     state.greeting
    /// }
    ///
    /// let router: Router = Router::new()
    ///     .route("/admin", Guard::permissions(&["admin"]).apply(get(admin)))
    ///     .with_state(AppState { greeting: "hello" });
    /// ```
    pub fn apply<S>(self, route: MethodRouter<S>) -> MethodRouter<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        if self.is_open() {
            return route;
        }
        route.route_layer(self.layer())
    }

    /// This guard as a layer, for a group of plain axum routes
    /// (axum-login's `route_layer(login_required!(..))`). Give it to
    /// `route_layer`, so that a path no route matches stays a 404:
    ///
    /// ```
    /// use session_axum::Guard;
    /// use session_axum::axum::{Router, routing::get};
    ///
    /// let admin: Router = Router::new()
    ///     .route("/admin/users", get(|| async { "users" }))
    ///     .route("/admin/logs", get(|| async { "logs" }))
    ///     .route_layer(Guard::permissions(&["admin"]).layer());
    /// ```
    pub fn layer(
        self,
    ) -> impl Layer<
        Route,
        Service: Service<
            Request,
            Response = Response,
            Error = Infallible,
            Future: Send + 'static,
        > + Clone
                     + Send
                     + Sync
                     + 'static,
    > + Clone
    + Send
    + Sync
    + 'static {
        middleware::from_fn_with_state(self, check)
    }
}

async fn check(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    let session = request.extensions().get::<RequestSession>();
    // Without the session layer no principal can pass: a setup mistake (a
    // route added to the router `App::into_router` returns), answered as
    // the extractors answer it, not with a 401 a logged-in user would get.
    let Some(session) = session else {
        tracing::error!(
            path = %request.uri().path(),
            "route guard used on a route outside the session interceptors; add plain axum routes with AppBuilder::merge, not to the router App::into_router returns"
        );
        return SessionRejection::MissingLayer.into_response();
    };
    session.mark_read();
    let Some(principal) = session.principal() else {
        return SessionRejection::unauthorized(session).into_response();
    };
    if let Some(within) = guard.recent_login
        && !session.logged_in_within(within)
    {
        return SessionRejection::unauthorized(session).into_response();
    }
    if guard
        .permissions
        .iter()
        .any(|p| !principal.has_permission(p))
    {
        return SessionRejection::forbidden(session).into_response();
    }
    next.run(request).await
}
