//! Attribute macros for `session-axum`; use them through its re-exports
//! (`session_axum::session_data`, `session_axum::controller`, ...).
//! `#[session_data]` also works on `session-core` alone, without
//! `session-axum`: `#[session_macros::session_data(crate = session_core)]`.
//!
//! Each macro parses its input into a typed model, checks it (collecting every
//! error, each on the offending token), then generates code that names runtime
//! items only through `session_axum::__private`. On an error the original item
//! is emitted unchanged next to the errors.

mod controller;
mod ctxt;
mod interceptor;
mod runtime;
mod self_type;
mod session_data;
mod standalone;

use proc_macro::TokenStream;

/// Implements `SessionData` for a struct with named fields and generates its
/// change-tracking view `<Name>Tracked`, which `Session<Name>` dereferences to:
/// `session.age()`, `session.set_age(v)`, `session.update_age(|v| ..)`.
///
/// Arguments: `validate = path` (a `fn(&Self) -> Result<(), E: Display>`),
/// `group_id = field`, `authenticated = field`, `crate = path`.
/// Field attributes `#[serde(rename, alias, skip, default, with,
/// serialize_with, deserialize_with)]` are honoured; a struct-level
/// `#[serde(rename_all)]` is refused, as the stored names are the fields'
/// own (rename fields one by one). Fields cannot carry
/// `#[cfg]`, nor take the name of a `Session` method (`user_id`, `label`,
/// `meta`, `flash`, `rotate`, ...), whose getter `Session` would hide; both
/// are compile errors. The exception is the field named by `group_id = ..`
/// or `authenticated = ..`: `session.group_id()` and
/// `session.is_authenticated()` are the `Session` methods that read it.
#[proc_macro_attribute]
pub fn session_data(args: TokenStream, item: TokenStream) -> TokenStream {
    session_data::expand(args.into(), item.into()).into()
}

/// Turns an inherent `impl` block into a controller: methods carrying
/// `#[get("/p")]`, `#[post]`, `#[put]`, `#[patch]` or `#[delete]` become
/// routes under the base path, registered with the app automatically.
/// `#[get("/")]`, or `#[get]` with no path, is the base path itself; a
/// base's trailing slash is dropped, so a route that wants `/base/` (axum
/// tells it apart from `/base`) spells it under a `"/"` base.
/// `#[controller("/base", from_app)]` builds the controller value with
/// `FromApp` instead of `Default` for `&self` methods.
/// `#[controller("/base", registry = false)]` leaves it out of the
/// registry: only apps given it with `AppBuilder::add_controller::<T>()`
/// serve it (an internal port's controller beside a public app in one
/// binary); one such controller per type.
///
/// A route's arguments are axum extractors, the body's last. Routes run
/// without router state: `State<T>` is a compile error; the app's values
/// come through `AppBuilder::provide`, as `Extension<T>` or into a
/// `from_app` controller. A route's future must be `Send` (no
/// `std::sync::MutexGuard` held across an `.await`) and its output
/// `IntoResponse`; each is checked on the method. Lifetime parameters are
/// allowed, type and const parameters are not.
///
/// A parameter `{name}` fills the rest of its segment, after static text at
/// most (`/file-{name}`, not `/{name}.json`), as axum's router takes it; a
/// catch-all `{*name}` ends the path. A route method's `#[cfg]` (or a
/// `#[cfg_attr]` holding one) applies to its route too. Routes are checked
/// against the base path (a parameter named in both, a route under a
/// catch-all base), and against each other (one method and path twice, one
/// path with other parameter names, a parameter and a catch-all at the
/// same place) when their `#[cfg]`s are the same, in any order: a macro
/// cannot evaluate a cfg, and routes under other ones may never exist
/// together, so the app build reports their conflicts.
///
/// Paths are matched as clients send them, spelling for spelling: a
/// character they percent-encode (non-ASCII, a space, `^`) is written
/// encoded, with the uppercase hex digits browsers produce (`/caf%C3%A9`);
/// writing it as is is a compile error that gives the encoding. An
/// encoding is not decoded or re-cased: `/caf%c3%a9` matches only requests
/// that spell it so, and `/%7Eme` is not `/~me`.
///
/// `crate = path` names `session_axum` when the dependency is renamed
/// (also for `#[interceptor]` and `#[session_data]`);
/// `#[session_data(crate = session_core)]` works with `session-core`
/// alone, without `session-axum`.
#[proc_macro_attribute]
pub fn controller(args: TokenStream, item: TokenStream) -> TokenStream {
    controller::expand(args.into(), item.into()).into()
}

/// Requires a principal (401) on a whole controller or one route;
/// `#[authenticated(permissions = ["admin"])]` also requires permissions (403),
/// and `#[authenticated(recent_login_secs = 600)]` a session login at most
/// that many seconds old (401 otherwise: "sudo mode", see
/// `session_axum::Auth::require_recent_login`).
/// Where the app takes bearer tokens, the answers carry a Bearer
/// `WWW-Authenticate` challenge (see `session_axum::BearerStatus`).
/// On a route of an `#[authenticated]` controller it adds to what the
/// controller requires: the route needs the controller's permissions and
/// its own, and the shorter of the two login ages. Only `#[unauthenticated]`
/// exempts a route.
#[proc_macro_attribute]
pub fn authenticated(args: TokenStream, item: TokenStream) -> TokenStream {
    standalone::authenticated(args.into(), item.into()).into()
}

/// Exempts one route of an `#[authenticated]` controller.
#[proc_macro_attribute]
pub fn unauthenticated(args: TokenStream, item: TokenStream) -> TokenStream {
    standalone::outside_controller("unauthenticated", args.into(), item.into()).into()
}

/// Registers an `Interceptor` with the app:
/// `#[interceptor(depends_on = [AuthInterceptor], runs_before = [Other])]`,
/// on the `impl Interceptor for T` block or on the type `T` (one of them:
/// on both, the second is a compile error). It runs inside
/// the interceptors it depends on and outside those it runs before; one
/// that reads the principal (`session_axum::Principal::of`) depends on
/// `AuthInterceptor`. Dependencies are types, so a typo fails to compile.
/// The value is built with `Default`, or with `FromApp` given `from_app`.
/// `#[interceptor(registry = false)]` leaves it out of the registry: only
/// apps given it with `AppBuilder::add_interceptor::<T>()` run it (an
/// internal port's interceptor beside a public app in one binary), ordered
/// with their other interceptors by the same `depends_on` / `runs_before`;
/// one such interceptor per type.
/// The `Interceptor` trait's docs have an example.
#[proc_macro_attribute]
pub fn interceptor(args: TokenStream, item: TokenStream) -> TokenStream {
    interceptor::expand(args.into(), item.into()).into()
}

macro_rules! route_macros {
    ($($name:ident),*) => {$(
        #[doc = concat!("A `", stringify!($name), "` route inside a `#[controller]` impl: `#[", stringify!($name), "(\"/path\")]` under the controller's base path, or `#[", stringify!($name), "]` for the base path itself.")]
        #[proc_macro_attribute]
        pub fn $name(args: TokenStream, item: TokenStream) -> TokenStream {
            standalone::outside_controller(stringify!($name), args.into(), item.into()).into()
        }
    )*};
}

route_macros!(get, post, put, patch, delete);
