//! Running the ordered interceptors around the router.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::Response;
use axum::routing::Route;
use tower::{Layer, Service, ServiceExt};

use super::Interceptor;
use crate::cross_origin::CrossOriginCheck;
use crate::error::Challenges;
use crate::login_page::LoginPage;
use crate::session_interceptor::AuthThenSession;

type Chain = Arc<[Arc<dyn Interceptor>]>;

/// The rest of the chain after the current interceptor.
pub struct Next {
    chain: Chain,
    position: usize,
    route: Route,
}

impl Next {
    /// Runs the remaining interceptors and the route.
    pub async fn run(self, request: Request) -> Response {
        match self.chain.get(self.position).cloned() {
            Some(interceptor) => {
                let next = Next {
                    chain: self.chain,
                    position: self.position + 1,
                    route: self.route,
                };
                interceptor.intercept(request, next).await
            }
            None => {
                // `call` after `ready` rather than `oneshot`, which would
                // move the request into its own state first.
                let mut route = self.route;
                let called = match ServiceExt::<Request>::ready(&mut route).await {
                    Ok(ready) => ready.call(request),
                    Err(infallible) => match infallible {},
                };
                match called.await {
                    Ok(response) => response,
                    Err(infallible) => match infallible {},
                }
            }
        }
    }
}

impl fmt::Debug for Next {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Next")
            .field("position", &self.position)
            .field("len", &self.chain.len())
            .finish()
    }
}

/// What runs around each route.
#[derive(Clone)]
pub(crate) enum Steps {
    /// Only the built-in auth and session step: called directly, without the
    /// dynamic chain's boxing and indirection.
    Builtin(Arc<AuthThenSession>),
    /// Any other chain.
    Chain(Chain),
}

/// Wraps each route (and the fallback) of a router in the interceptor chain.
#[derive(Clone)]
pub(crate) struct InterceptorLayer {
    pub(crate) steps: Steps,
    /// The app's own realm's challenges (`None`: the default realm).
    pub(crate) challenges: Option<Arc<Challenges>>,
    /// Where browsers without a login go ([`AppBuilder::login_page`](crate::AppBuilder::login_page)).
    pub(crate) login_page: Option<Arc<LoginPage>>,
    /// Which cross-origin writes are refused (`None`: the check is off).
    pub(crate) cross_origin: Option<Arc<CrossOriginCheck>>,
}

impl Layer<Route> for InterceptorLayer {
    type Service = InterceptedRoute;
    fn layer(&self, route: Route) -> InterceptedRoute {
        InterceptedRoute {
            steps: self.steps.clone(),
            challenges: self.challenges.clone(),
            login_page: self.login_page.clone(),
            cross_origin: self.cross_origin.clone(),
            route,
        }
    }
}

/// A route behind the interceptor chain.
#[derive(Clone)]
pub(crate) struct InterceptedRoute {
    steps: Steps,
    challenges: Option<Arc<Challenges>>,
    login_page: Option<Arc<LoginPage>>,
    cross_origin: Option<Arc<CrossOriginCheck>>,
    route: Route,
}

impl Service<Request> for InterceptedRoute {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // Before the session is loaded: a forged write costs no store call.
        if let Some(check) = &self.cross_origin
            && check.refuses(&request)
        {
            return Box::pin(std::future::ready(Ok(check.refuse(&request))));
        }
        let route = self.route.clone();
        if let Some(page) = &self.login_page {
            // Rare: one more async block, and the page's check on the way out.
            let (page, asked) = (Arc::clone(page), page.asked(&request));
            let inner = self.call_steps(request, route);
            return Box::pin(async move {
                let Ok(mut response) = inner.await;
                page.answer(&mut response, asked);
                Ok(response)
            });
        }
        self.call_steps(request, route)
    }
}

impl InterceptedRoute {
    fn call_steps(
        &self,
        request: Request,
        route: Route,
    ) -> Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>> {
        let chain = match &self.steps {
            Steps::Builtin(builtin) => {
                return Box::pin(AuthThenSession::around(Arc::clone(builtin), request, route));
            }
            Steps::Chain(chain) => chain,
        };
        let Some(first) = chain.first().cloned() else {
            return Box::pin(route.oneshot(request));
        };
        let next = Next {
            chain: chain.clone(),
            position: 1,
            route,
        };
        // The first interceptor's future is boxed already; wrapping it in
        // another async block would copy the whole chain's state once more.
        Box::pin(first_step(first, request, next, self.challenges.clone()))
    }
}

/// The whole chain; the app's realm put in the challenges any step or the
/// route answered with (outermost, so that every refusal gets it once).
async fn first_step(
    interceptor: Arc<dyn Interceptor>,
    request: Request,
    next: Next,
    challenges: Option<Arc<Challenges>>,
) -> Result<Response, Infallible> {
    let mut response = interceptor.intercept(request, next).await;
    if let Some(challenges) = challenges {
        challenges.apply(&mut response);
    }
    Ok(response)
}
