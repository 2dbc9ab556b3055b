//! The [`App`]: every registered controller and interceptor, built into an `axum::Router`.

mod builder;
mod context;
mod error;
mod routes;

pub use builder::AppBuilder;
pub use context::{AppContext, FromApp};
pub use error::BuildError;

use axum::Router;
use session_core::SessionService;

use crate::CookieConfig;

/// Web-side settings shared by the interceptors.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// The session cookie.
    pub cookie: CookieConfig,
    /// Whether `Authorization: Bearer <token>` is accepted.
    pub bearer: bool,
}

/// A built app: the router plus what it was built from.
#[derive(Debug)]
pub struct App {
    router: Router,
    order: Vec<&'static str>,
    routes: Vec<String>,
    service: SessionService,
}

impl App {
    /// Starts configuring an app.
    pub fn builder() -> AppBuilder {
        AppBuilder::default()
    }

    /// The interceptors, outermost first, by type name: the last segment
    /// of its path, or as much of the path as tells two alike names apart.
    pub fn interceptor_order(&self) -> &[&'static str] {
        &self.order
    }

    /// Every controller route as `METHOD /path`, sorted.
    pub fn routes(&self) -> &[String] {
        &self.routes
    }

    /// The session service (for background jobs, admin tasks, tests).
    pub fn service(&self) -> &SessionService {
        &self.service
    }

    /// The router to serve.
    pub fn into_router(self) -> Router {
        self.router
    }
}
