//! Turning controller registrations into one router, without letting the
//! router panic on a bad declaration.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use axum::Router;
use axum::routing::{MethodFilter, MethodRouter};

use super::{AppContext, BuildError};
use crate::controller::ControllerRegistration;
use crate::path;

pub(super) struct BuiltRoutes {
    pub(super) router: Router,
    pub(super) listing: Vec<String>,
}

pub(super) fn build_routes(
    controllers: &[&ControllerRegistration],
    ctx: &AppContext,
) -> Result<BuiltRoutes, BuildError> {
    // (shape, method) -> (declared path, controller), to find duplicates.
    let mut seen: HashMap<(String, String), (String, &'static str)> = HashMap::new();
    // shape -> (declared path, controller), for paths spelled two ways.
    let mut spellings: HashMap<String, (String, &'static str)> = HashMap::new();
    let mut by_path: Vec<(String, MethodRouter)> = Vec::new();
    let mut listing = Vec::new();
    for controller in controllers {
        for route in (controller.routes)(ctx)? {
            let full = path::full(controller.base_path, route.path).map_err(|source| {
                BuildError::Path {
                    controller: controller.name,
                    source,
                }
            })?;
            let filter =
                MethodFilter::try_from(route.method.clone()).map_err(|_| BuildError::Method {
                    controller: controller.name,
                    method: route.method.to_string(),
                    path: full.clone(),
                })?;
            let key = (path::shape(&full), route.method.to_string());
            if let Some((first_path, first)) = seen.get(&key) {
                return Err(if *first_path == full {
                    BuildError::DuplicateRoute {
                        method: key.1,
                        path: full,
                        first,
                        second: controller.name,
                    }
                } else {
                    BuildError::RouteConflict {
                        path: full,
                        message: format!(
                            "`{first_path}` (from `{first}`) matches the same requests"
                        ),
                    }
                });
            }
            // The router holds one spelling per path, whatever the method.
            if let Some((other, first)) = spellings.get(&key.0).filter(|(p, _)| *p != full) {
                return Err(BuildError::RouteConflict {
                    path: full,
                    message: format!(
                        "`{other}` (from `{first}`) is the same path with other parameter names; use the same names"
                    ),
                });
            }
            // The router would panic naming only the path it already holds.
            if let Some((other, first)) = spellings
                .values()
                .find(|(other, _)| path::wildcard_clash(other, &full))
            {
                let (param, rest) = if full.contains("{*") {
                    (other, &full)
                } else {
                    (&full, other)
                };
                return Err(BuildError::RouteConflict {
                    path: full.clone(),
                    message: format!(
                        "`{other}` (from `{first}`) and `{full}` (from `{}`): the router cannot hold the parameter of `{param}` beside the catch-all of `{rest}` at the same place",
                        controller.name
                    ),
                });
            }
            spellings.insert(key.0.clone(), (full.clone(), controller.name));
            seen.insert(key, (full.clone(), controller.name));
            listing.push(format!("{} {full}", route.method));
            // The declared method alone reaches the handler: whatever else
            // it answers (another method, a fallback, `any`) would be
            // outside the listing and the duplicate checks, and the guard
            // could not wrap a fallback.
            let handler = route.guard.apply(MethodRouter::new().on_service(
                filter,
                declared_only(route.handler, full.as_str().into(), route.method.clone()),
            ));
            match by_path.iter_mut().find(|(p, _)| *p == full) {
                Some((_, existing)) => {
                    let merged = std::mem::take(existing);
                    *existing = guarded(&full, || merged.merge(handler))?;
                }
                None => by_path.push((full, handler)),
            }
        }
    }
    let mut router = Router::new();
    for (full, handler) in by_path {
        let current = router;
        router = guarded(&full, || current.route(&full, handler))?;
    }
    listing.sort();
    Ok(BuiltRoutes { router, listing })
}

/// `handler` as reached through its route's declared `method`. Its state is
/// given up front, or each request would box its handler anew. When the
/// handler does not answer that method, every request gets its method
/// router's own 405, whose `Allow` names methods the route never routes to
/// it: that header goes, and the mistake is logged. A handler's own 405
/// keeps its `Allow`.
fn declared_only(
    handler: MethodRouter,
    path: Arc<str>,
    method: http::Method,
) -> impl tower::Service<
    axum::extract::Request,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone
+ Send
+ Sync
+ 'static {
    // Decided once here: nothing more for each request to do.
    let unanswered = !answers(&handler, &method).unwrap_or(true);
    let method: Arc<str> = method.as_str().into();
    tower::ServiceExt::<axum::extract::Request>::map_response(
        handler.with_state::<()>(()),
        move |mut response: axum::response::Response| {
            if unanswered
                && response.status() == http::StatusCode::METHOD_NOT_ALLOWED
                && response.headers_mut().remove(http::header::ALLOW).is_some()
            {
                tracing::error!(%path, %method, "the route's handler does not answer its declared method");
            }
            response
        },
    )
}

/// Whether `router` answers `method` with a handler of its own: one for
/// that method (GET's answers HEAD too), or a fallback of the app's (`any`);
/// not axum's default 405. `None` when its `Debug` output, the only view
/// axum gives of a method router, is not as expected (the unit test below
/// pins it).
fn answers(router: &MethodRouter, method: &http::Method) -> Option<bool> {
    let text = format!("{router:#?}");
    let field = |name: &str| {
        text.lines().find_map(|line| {
            let (key, value) = line.trim_start().split_once(": ")?;
            (key == name).then_some(value)
        })
    };
    let name = method.as_str().to_ascii_lowercase();
    let mut endpoints = vec![field(&name)?];
    if *method == http::Method::HEAD {
        endpoints.push(field("get")?);
    }
    let fallback = field("fallback")?;
    Some(endpoints.iter().any(|value| *value != "None,") || !fallback.starts_with("Default("))
}

/// Runs a router call that panics on conflicts the checks above cannot see
/// and turns the panic into a build error.
pub(super) fn guarded<T>(path: &str, f: impl FnOnce() -> T) -> Result<T, BuildError> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| BuildError::RouteConflict {
        path: path.to_owned(),
        message: payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "the router refused it".to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use axum::routing::{any, get, post};
    use http::Method;

    use super::*;

    async fn ok() {}

    #[test]
    fn a_handler_or_an_app_fallback_answers_and_axums_405_does_not() {
        let answers = |router: &MethodRouter, method: Method| answers(router, &method);
        assert_eq!(answers(&get(ok), Method::GET), Some(true));
        assert_eq!(answers(&get(ok), Method::HEAD), Some(true));
        assert_eq!(answers(&get(ok), Method::POST), Some(false));
        assert_eq!(answers(&post(ok).fallback(ok), Method::PUT), Some(true));
        assert_eq!(answers(&any(ok), Method::DELETE), Some(true));
        assert_eq!(
            answers(
                &MethodRouter::new().on(axum::routing::MethodFilter::CONNECT, ok),
                Method::CONNECT
            ),
            Some(true)
        );
        assert_eq!(answers(&MethodRouter::new(), Method::GET), Some(false));
    }
}
