//! Declarative sessions for axum.
//!
//! - Interceptors ([`Interceptor`]) registered through a registry and ordered
//!   by their declared dependencies: the [`AuthInterceptor`] establishes the
//!   [`Principal`], the [`SessionInterceptor`] (which depends on it) persists
//!   the session after the handler.
//! - Extractors: [`Session<T>`] for typed data with change tracking, [`Auth`]
//!   for login and logout (and asking for a recent login, "sudo mode"),
//!   [`Principal`] (401 when absent), [`Sessions`] for listing and revoking
//!   a user's sessions.
//! - Controllers registered through the registry, guarded by [`Guard`]s
//!   (401 and 403, with the `WWW-Authenticate` challenge of [`BearerStatus`]),
//!   and the [`App`] builder that turns everything into an `axum::Router`;
//!   with [`AppBuilder::login_page`], browsers get the login page instead
//!   of the 401 (and [`local_redirect`] tells where to send them back).
//! - The attribute macros `#[session_data]`, `#[controller]`, routes,
//!   `#[authenticated]` and `#[interceptor]`, re-exported from `session-macros`.
//!
//! Registrations live in the crates that declare them: a crate that nothing
//! names is not linked, and its controllers silently vanish. Name such a crate
//! somewhere in the binary, e.g. `use my_routes as _;`.
//!
//! ```no_run
//! use session_axum::prelude::*;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let app = App::builder().store(MemoryStore::new()).secret(Key::generate()).build()?;
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//!     axum::serve(listener, app.into_router()).await?;
//!     Ok(())
//! }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

pub mod app;
pub mod auth;
mod cache_control;
mod context;
pub mod controller;
pub mod cookie;
mod cross_origin;
mod error;
pub mod extract;
mod guard;
pub mod interceptor;
mod login_page;
pub mod path;
mod principal;
mod session_interceptor;

pub use app::{App, AppBuilder, AppContext, BuildError, FromApp, WebConfig};
pub use auth::{AuthInterceptor, Authenticator};
pub use context::{RequestSession, TokenSource};
pub use controller::{Controller, ControllerRegistration, RouteDef};
pub use cookie::{CookieConfig, CookieConfigError};
pub use cross_origin::OriginError;
pub use error::{BearerStatus, RealmError, SessionRejection};
pub use extract::{Auth, LoggedIn, LoggedOut, Session, SessionEnd, SessionValues, Sessions};
pub use guard::Guard;
pub use interceptor::{
    Interceptor, InterceptorRef, InterceptorRegistration, Next, OrderError, UnregisteredInterceptor,
};
pub use login_page::{LoginPageError, MAX_REDIRECT_LEN, local_redirect, with_next};
pub use principal::Principal;
pub use session_interceptor::SessionInterceptor;

/// The `SameSite` values [`AppBuilder::same_site`] takes (from the `cookie` crate).
pub use ::cookie::SameSite;
pub use async_trait::async_trait;
pub use axum;
pub use session_core::{
    self as core, Binding, CookieLifetime, CookieStore, ExpiryPolicy, InvalidDataPolicy, Key,
    ListedSession, MemoryStore, SessionData, SessionHandle, SessionId, SessionService,
    SessionStore, SigningKeys,
};
pub use session_macros::{
    authenticated, controller, delete, get, interceptor, patch, post, put, session_data,
    unauthenticated,
};

/// What a typical app imports.
pub mod prelude {
    pub use crate::{
        App, Auth, Binding, CookieLifetime, CookieStore, FromApp, Guard, Interceptor, Key,
        MemoryStore, Next, Principal, Session, SessionEnd, SessionHandle, SessionRejection,
        SessionValues, Sessions, async_trait, authenticated, controller, delete, get, interceptor,
        local_redirect, patch, post, put, session_data, unauthenticated,
    };
    pub use axum::{self, Json, response::IntoResponse};
}

/// Registers a [`ControllerRegistration`] (a `const` expression) without the
/// `#[controller]` macro.
#[macro_export]
macro_rules! register_controller {
    ($registration:expr) => {
        $crate::__private::inventory::submit! { $registration }
    };
}

/// Registers an [`InterceptorRegistration`] (a `const` expression) without the
/// `#[interceptor]` macro.
#[macro_export]
macro_rules! register_interceptor {
    ($registration:expr) => {
        $crate::__private::inventory::submit! { $registration }
    };
}

/// Items the macros' generated code names. Not public API: no stability promise.
#[doc(hidden)]
pub mod __private {
    pub use ::axum;
    pub use ::http::Method;
    pub use ::inventory;
    pub use ::serde;
    pub use ::serde_json;
    pub use ::session_core;

    pub use ::async_trait::async_trait;

    pub use crate::{
        AppContext, BuildError, Controller, ControllerRegistration, FromApp, Guard, Interceptor,
        InterceptorRef, InterceptorRegistration, RouteDef, UnregisteredInterceptor,
    };

    /// Implemented by `#[interceptor]` for its type, and by every
    /// [`UnregisteredInterceptor`]: the attribute on both the struct and
    /// its `impl` block is a conflict, on the second one, instead of an
    /// interceptor registered twice that only the app build refuses.
    pub trait OneInterceptorAttribute {}

    impl<T: UnregisteredInterceptor> OneInterceptorAttribute for T {}

    /// A route method's handler, whose arguments must all be extractors.
    #[diagnostic::on_unimplemented(
        message = "this route is not a handler",
        label = "its arguments must be extractors, and its controller `Send + Sync`",
        note = "each argument must implement `FromRequestParts`; the last may implement `FromRequest` instead",
        note = "its future must be `Send` and its output implement `IntoResponse`: an error on the method says so where they are not"
    )]
    pub trait RouteHandler<T, S>: ::axum::handler::Handler<T, S> {}

    impl<H: ::axum::handler::Handler<T, S>, T, S> RouteHandler<T, S> for H {}

    /// A route argument that another follows: it must leave the body to
    /// the last one.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` cannot be a route argument before the last",
        label = "only the last argument may read the request",
        note = "every argument but the last must implement `FromRequestParts`; body extractors (`Json`, `Form`, `String`, `Bytes`) go last",
        note = "a path parameter is read with `Path<T>`, the query with `Query<T>`"
    )]
    // No supertrait: rustc would report it, not this trait's message, where
    // `<T as PartsExtractor>::CHECK` names a `T` that is no extractor.
    pub trait PartsExtractor {
        /// `0`, for [`Checked`]'s array length.
        const CHECK: usize;
    }

    impl<T: ::axum::extract::FromRequestParts<()>> PartsExtractor for T {
        const CHECK: usize = 0;
    }

    /// A controller with `&self` routes, which requests on many threads
    /// share. (Where it is not, rustc's message for `Send` or `Sync` names
    /// the field that is not.)
    pub trait SharedController {
        /// `0`, for [`Checked`]'s array length.
        const CHECK: usize;
    }

    impl<T: Send + Sync> SharedController for T {
        const CHECK: usize = 0;
    }

    /// A type as the generated code takes it once checked (a route
    /// argument's, a shared controller's):
    /// `<[(); <T as PartsExtractor>::CHECK] as Checked<T>>::Type` is `T`,
    /// or where `T` is no parts extractor, the one error on `T` above and a
    /// type rustc knows to be wrong, so the handler adds no "not a
    /// handler" of its own.
    pub trait Checked<T> {
        type Type;
    }

    impl<T> Checked<T> for [(); 0] {
        type Type = T;
    }

    /// A route's last argument: it may read the body, or only the parts.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` cannot be a route argument",
        label = "implements neither `FromRequest` nor `FromRequestParts`",
        note = "a route's arguments are axum extractors: the last may read the body (`Json<T>`, `Form<T>`, `String`, `Bytes`), the others only the request's parts",
        note = "`Json<T>`, `Form<T>`, `Query<T>` and `Path<T>` are extractors when `T: serde::Deserialize` (`#[derive(serde::Deserialize)]`), `Extension<T>` when `T: Clone`"
    )]
    // No supertrait, as for `PartsExtractor`.
    pub trait RequestExtractor<M> {
        /// `0`, for [`Checked`]'s array length.
        const CHECK: usize;
    }

    impl<T: ::axum::extract::FromRequest<(), M>, M> RequestExtractor<M> for T {
        const CHECK: usize = 0;
    }

    /// Checks at compile time that a route's future may move between
    /// threads, as the server's runtime moves it: called on the route,
    /// rustc names what the route holds across an `.await`. (Its output is
    /// checked once, where the handler converts it into a response.) `C`
    /// is `[(); 0]`, or for a `&self` route `[(); <T as
    /// SharedController>::CHECK]`: where the controller is not `Send +
    /// Sync`, the future holding `&T` is not checked again.
    pub fn route_future<F, C>(_: F)
    where
        C: Checked<F>,
        C::Type: ::core::future::Future + Send,
    {
    }

    /// The method router of a route method (or of a `&self` route's
    /// generated closure): its bound's message replaces axum's `Handler`
    /// error.
    pub fn route_handler<H, T, S>(
        filter: ::axum::routing::MethodFilter,
        handler: H,
    ) -> ::axum::routing::MethodRouter<S>
    where
        H: RouteHandler<T, S>,
        T: 'static,
        S: Clone + Send + Sync + 'static,
    {
        ::axum::routing::on(filter, handler)
    }

    /// The registration's own type, unchecked: [`shared_interceptor`]
    /// reports a type that is no interceptor, once.
    pub const fn own_interceptor_ref<T: 'static>() -> InterceptorRef {
        InterceptorRef::of_unchecked::<T>()
    }

    /// Shares an interceptor; the bound puts "not an interceptor" on the user's type.
    pub fn shared_interceptor<T: Interceptor>(value: T) -> ::std::sync::Arc<dyn Interceptor> {
        ::std::sync::Arc::new(value)
    }
}
