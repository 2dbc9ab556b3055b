//! The [`App`]: every registered controller and interceptor, built into an `axum::Router`.

mod builder;
mod context;
mod error;
mod routes;

pub use builder::AppBuilder;
pub use context::{AppContext, FromApp};
pub use error::BuildError;

use axum::Router;
use session_core::{SessionId, SessionService};

use crate::CookieConfig;

/// Web-side settings shared by the interceptors.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// The session cookie.
    pub cookie: CookieConfig,
    /// Whether `Authorization: Bearer <token>` is accepted.
    pub bearer: bool,
    /// With a client-side store, the cookie naming the sessions a browser
    /// ended (see
    /// [`SessionService::check_ended`](session_core::SessionService::check_ended)):
    /// the session cookie's attributes under its name plus
    /// [`ENDED_COOKIE_SUFFIX`](session_core::store::cookie::ENDED_COOKIE_SUFFIX).
    /// `None` with a server-side store.
    pub ended_cookie: Option<CookieConfig>,
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

    /// Every controller route as `METHOD /path`, sorted (the routes of
    /// routers given to [`AppBuilder::merge`](crate::AppBuilder::merge) are
    /// not listed: axum does not tell them).
    pub fn routes(&self) -> &[String] {
        &self.routes
    }

    /// The session service (for background jobs, admin tasks, tests).
    pub fn service(&self) -> &SessionService {
        &self.service
    }

    /// The `Cookie` request header value of a browser holding session `id`
    /// (`<cookie name>=<signed token>`): for tests and tools that make a
    /// session with [`SessionService::create_session`] and send requests as
    /// its user. Server-side stores only: a client-side store's cookie is
    /// the sealed session itself, and it makes no session from an id.
    ///
    /// ```
    /// use session_axum::axum::{body::Body, http::{Request, StatusCode, header}, routing::get};
    /// use session_axum::prelude::*;
    /// use tower::ServiceExt as _;
    ///
    /// async fn me(principal: Principal) -> String {
    ///     principal.user_id
    /// }
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let app = App::builder()
    ///     .store(MemoryStore::new())
    ///     .secret(Key::generate())
    ///     .merge(axum::Router::new().route("/me", get(me)))
    ///     .build()
    ///     .unwrap();
    /// let ada = app.service().create_session(Binding::user("ada")).await.unwrap();
    /// let cookie = app.cookie_for(&ada);
    ///
    /// let request = Request::get("/me").header(header::COOKIE, cookie).body(Body::empty()).unwrap();
    /// let response = app.into_router().oneshot(request).await.unwrap();
    /// assert_eq!(response.status(), StatusCode::OK);
    /// # });
    /// ```
    pub fn cookie_for(&self, id: &SessionId) -> String {
        let signer = self.service.signer();
        format!("{}={}", signer.context(), signer.sign_id(id))
    }

    /// The router to serve.
    ///
    /// Routes added to it afterwards (`.route(..)`, `.merge(..)`,
    /// `.fallback(..)`, `.nest_service(..)`) run outside the interceptors:
    /// their session extractors and route guards answer 500 `session layer
    /// missing`. Give them to [`AppBuilder::merge`](crate::AppBuilder::merge)
    /// instead (a fallback too, on the router given there). Layers added
    /// afterwards wrap the whole app, as usual; a timeout among them drops
    /// a request it cancels whole, persist included, so nothing the
    /// handler changed is saved.
    pub fn into_router(self) -> Router {
        self.router
    }
}
