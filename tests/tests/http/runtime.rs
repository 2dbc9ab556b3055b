//! The app builder's runtime outside auth and cookies: guards on hand-written
//! routes, `App::routes()`, response paths the session interceptor sees
//! (404, 405, a caught handler panic, an interceptor's short-circuit), and
//! guards running before the handler's extractors.
//!
//! Controllers here are passed to the builder by hand (not registered), each
//! under its own `/rt-*` base path.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Json;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::{self, Next as AxumNext};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use http::Method;
use serde::Deserialize;
use session_axum::{
    App, AppContext, BuildError, ControllerRegistration, Guard, Interceptor, InterceptorRef,
    InterceptorRegistration, MemoryStore, Next, Principal, RequestSession, RouteDef, Session,
    SessionInterceptor,
};
use session_core::SigningKeys;
use session_tests::profile::Counters;

use crate::app::{key, start_with};

async fn secret() -> &'static str {
    "secret"
}

fn bare() -> session_axum::AppBuilder {
    App::builder()
        .store(MemoryStore::new())
        .secret(key(1))
        .secure(false)
        .use_registry(false)
}

// ---------------------------------------------------------------------------
// Guards on hand-written routes
// ---------------------------------------------------------------------------

/// A guarded route whose handler is `any(..)` (a method router made of a
/// fallback alone) builds, is guarded, and answers its declared method only.
#[tokio::test]
async fn a_guarded_any_route_builds_and_is_guarded() {
    fn routes(_: &AppContext) -> Result<Vec<RouteDef>, BuildError> {
        Ok(vec![RouteDef {
            method: Method::POST,
            path: "/hook",
            guard: Guard::AUTHENTICATED,
            handler: any(secret),
        }])
    }
    static ANY: ControllerRegistration = ControllerRegistration {
        name: "RtAny",
        base_path: "/rt-any",
        routes,
    };
    let built = catch_unwind(AssertUnwindSafe(|| bare().controller(&ANY).build()));
    let app = built
        .expect("AppBuilder::build does not panic")
        .expect("builds");
    let server = session_tests::http::TestServer::start(app.into_router()).await;
    let mut b = server.browser();
    assert_eq!(b.post("/rt-any/hook").await.status, 401);
    assert_eq!(b.get("/rt-any/hook").await.status, 405);
}

/// A guarded route's handler with a fallback (the handler for every other
/// method): no other method reaches it, guarded or not.
#[tokio::test]
async fn a_guarded_routes_method_fallback_is_not_reachable_without_a_principal() {
    fn routes(_: &AppContext) -> Result<Vec<RouteDef>, BuildError> {
        Ok(vec![RouteDef {
            method: Method::GET,
            path: "/doc",
            guard: Guard::AUTHENTICATED,
            handler: get(secret).fallback(secret),
        }])
    }
    static FALLBACK: ControllerRegistration = ControllerRegistration {
        name: "RtFallback",
        base_path: "/rt-fallback",
        routes,
    };
    let app = bare().controller(&FALLBACK).build().expect("builds");
    let server = session_tests::http::TestServer::start(app.into_router()).await;
    let mut b = server.browser();
    assert_eq!(
        b.get("/rt-fallback/doc").await.status,
        401,
        "GET is guarded"
    );
    let r = b.post("/rt-fallback/doc").await;
    assert_ne!(
        (r.status, r.body.as_str()),
        (200, "secret"),
        "POST to a route declared #[authenticated] reached its handler without a principal"
    );
}

/// A hand-written route is reachable by its declared method alone, the one
/// `App::routes()` lists: a handler answering another method leaves it a
/// 405 rather than serving that method unlisted.
#[tokio::test]
async fn a_route_is_reachable_by_its_declared_method_alone() {
    fn routes(_: &AppContext) -> Result<Vec<RouteDef>, BuildError> {
        Ok(vec![
            RouteDef {
                method: Method::POST,
                path: "/x",
                guard: Guard::OPEN,
                handler: get(secret),
            },
            RouteDef {
                method: Method::PUT,
                path: "/y",
                guard: Guard::OPEN,
                handler: any(secret),
            },
        ])
    }
    static MISMATCH: ControllerRegistration = ControllerRegistration {
        name: "RtMismatch",
        base_path: "/rt-mismatch",
        routes,
    };
    let app = bare().controller(&MISMATCH).build().expect("builds");
    assert_eq!(app.routes(), ["POST /rt-mismatch/x", "PUT /rt-mismatch/y"]);
    let server = session_tests::http::TestServer::start(app.into_router()).await;
    let mut b = server.browser();
    assert_eq!(
        b.get("/rt-mismatch/x").await.status,
        405,
        "GET is not listed"
    );
    assert_eq!(
        b.post("/rt-mismatch/x").await.status,
        405,
        "the handler answers GET"
    );
    assert_eq!(
        b.post("/rt-mismatch/y").await.status,
        405,
        "POST is not listed"
    );
    let put = b.send(Method::PUT, "/rt-mismatch/y", None).await;
    assert_eq!((put.status, put.body.as_str()), (200, "secret"));
}

/// A route whose handler does not answer its declared method: the 405 for
/// the declared method advertises none of the handler's own methods (they
/// are never routed to it), and another method's 405 names only the
/// declared one.
#[tokio::test]
async fn a_405_never_advertises_the_handlers_own_methods() {
    fn routes(_: &AppContext) -> Result<Vec<RouteDef>, BuildError> {
        Ok(vec![RouteDef {
            method: Method::POST,
            path: "/x",
            guard: Guard::OPEN,
            handler: get(secret),
        }])
    }
    static ALLOW: ControllerRegistration = ControllerRegistration {
        name: "RtAllow",
        base_path: "/rt-allow",
        routes,
    };
    let app = bare().controller(&ALLOW).build().expect("builds");
    let server = session_tests::http::TestServer::start(app.into_router()).await;
    let mut b = server.browser();
    let post = b.post("/rt-allow/x").await;
    assert_eq!((post.status, allow(&post)), (405, None));
    let get = b.get("/rt-allow/x").await;
    assert_eq!((get.status, allow(&get).as_deref()), (405, Some("POST")));
}

/// The response's `Allow` header.
fn allow(r: &session_tests::http::Reply) -> Option<String> {
    r.headers
        .get(http::header::ALLOW)
        .map(|v| v.to_str().unwrap().to_owned())
}

/// A handler that answers its declared method with a 405 of its own (a
/// resource that is read-only for now) sends the `Allow` RFC 9110 requires
/// of every 405, listing what the resource takes instead; so does an
/// `any(..)` handler (which the builder accepts, see
/// `a_guarded_any_route_builds_and_is_guarded`). Only the router's own 405
/// for a handler that does not answer the declared method loses its `Allow`.
#[tokio::test]
async fn a_handlers_own_405_keeps_its_allow_header() {
    async fn read_only_now() -> Response {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            [(http::header::ALLOW, "GET")],
            "this document is read-only now",
        )
            .into_response()
    }
    fn routes(_: &AppContext) -> Result<Vec<RouteDef>, BuildError> {
        let route = |method, path, handler| RouteDef {
            method,
            path,
            guard: Guard::OPEN,
            handler,
        };
        Ok(vec![
            route(Method::GET, "/doc", get(secret)),
            route(Method::PUT, "/doc", axum::routing::put(read_only_now)),
            route(Method::PUT, "/any-doc", any(read_only_now)),
        ])
    }
    static OWN_405: ControllerRegistration = ControllerRegistration {
        name: "RtOwn405",
        base_path: "/rt-own-405",
        routes,
    };
    let app = bare().controller(&OWN_405).build().expect("builds");
    let server = session_tests::http::TestServer::start(app.into_router()).await;
    for path in ["/rt-own-405/doc", "/rt-own-405/any-doc"] {
        let put = server.browser().send(Method::PUT, path, None).await;
        assert_eq!(put.status, 405, "{path}: {}", put.body);
        assert_eq!(
            allow(&put).as_deref(),
            Some("GET"),
            "{path}: the handler's own Allow was removed: {:?}",
            put.headers
        );
    }
}

/// A method the router cannot route is a build error naming it.
#[test]
fn an_extension_method_is_a_build_error() {
    fn routes(_: &AppContext) -> Result<Vec<RouteDef>, BuildError> {
        Ok(vec![RouteDef {
            method: Method::from_bytes(b"PURGE").unwrap(),
            path: "/cache",
            guard: Guard::OPEN,
            handler: any(secret),
        }])
    }
    static PURGE: ControllerRegistration = ControllerRegistration {
        name: "RtPurge",
        base_path: "/rt-purge",
        routes,
    };
    let error = bare().controller(&PURGE).build().unwrap_err();
    assert!(
        matches!(&error, BuildError::Method { method, .. } if method == "PURGE"),
        "{error}"
    );
}

/// A builder missing its store or its key says which call is missing.
#[test]
fn a_missing_store_or_key_names_the_call_to_make() {
    let no_store = App::builder()
        .secret(key(1))
        .use_registry(false)
        .build()
        .unwrap_err()
        .to_string();
    assert!(no_store.contains(".store(..)"), "{no_store}");
    let no_key = App::builder()
        .store(MemoryStore::new())
        .use_registry(false)
        .build()
        .unwrap_err()
        .to_string();
    assert!(no_key.contains(".secret(..)"), "{no_key}");
    let service = session_core::SessionService::builder()
        .store(MemoryStore::new())
        .build()
        .unwrap_err()
        .to_string();
    assert!(service.contains(".key(..)"), "{service}");
}

// ---------------------------------------------------------------------------
// Guards run before the handler's extractors
// ---------------------------------------------------------------------------

#[derive(Deserialize)]
#[allow(dead_code)]
struct Strict {
    n: u32,
}

async fn guarded_json(mut session: Session<Counters>, Json(body): Json<Strict>) -> StatusCode {
    session.update(|c| c.visits += body.n as u64);
    StatusCode::NO_CONTENT
}

fn guarded_json_routes(_: &AppContext) -> Result<Vec<RouteDef>, BuildError> {
    Ok(vec![RouteDef {
        method: Method::POST,
        path: "/json",
        guard: Guard::AUTHENTICATED,
        handler: post(guarded_json),
    }])
}

static GUARDED_JSON: ControllerRegistration = ControllerRegistration {
    name: "RtGuardedJson",
    base_path: "/rt-guard",
    routes: guarded_json_routes,
};

#[tokio::test]
async fn a_401_comes_before_the_body_is_read_and_creates_nothing() {
    let t = start_with(SigningKeys::single(key(1)), |b| b.controller(&GUARDED_JSON)).await;
    let client = session_tests::http::client();
    // Malformed JSON with the wrong content type: a body extractor would
    // answer 415/400/422 if it ran first.
    let r = client
        .post(t.server.url("/rt-guard/json"))
        .header("content-type", "text/plain")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("set-cookie").is_none());
    let body = r.text().await.unwrap();
    assert_eq!(body, r#"{"error":"authentication required"}"#);
    assert!(t.store.writes().is_empty(), "{:?}", t.store.writes());
    assert!(t.store.inner().is_empty());
}

// ---------------------------------------------------------------------------
// Response paths the session interceptor sees
// ---------------------------------------------------------------------------

#[tokio::test]
async fn not_found_and_method_not_allowed_write_nothing_and_leak_nothing() {
    let t = start_with(SigningKeys::single(key(1)), |b| b.controller(&GUARDED_JSON)).await;
    let mut b = t.server.browser();
    b.get("/t/visit").await;
    assert!(b.jar.contains_key("sid"));
    t.store.clear();
    for (method, path, status) in [
        (reqwest::Method::GET, "/rt-guard/nowhere", 404),
        (reqwest::Method::GET, "/rt-guard/json", 405),
        (reqwest::Method::DELETE, "/t/visit", 405),
    ] {
        let r = b.send(method.clone(), path, None).await;
        assert_eq!(r.status, status, "{method} {path}");
        assert!(
            r.set_cookies.is_empty(),
            "{method} {path}: {:?}",
            r.set_cookies
        );
        assert!(
            !r.body.contains("Session") && !r.body.contains("panic"),
            "{}",
            r.body
        );
    }
    assert!(t.store.writes().is_empty(), "{:?}", t.store.writes());
    assert_eq!(b.get("/t/peek").await.json()["visits"], 1);
}

/// A future that turns a panic while polling into `Err`.
struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, ()>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.0.as_mut();
        match catch_unwind(AssertUnwindSafe(move || inner.poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(_) => Poll::Ready(Err(())),
        }
    }
}

async fn catch_panics(request: Request, next: AxumNext) -> Response {
    match CatchUnwind(Box::pin(next.run(request))).await {
        Ok(response) => response,
        Err(()) => (StatusCode::INTERNAL_SERVER_ERROR, "handler failed").into_response(),
    }
}

async fn visit_then_panic(mut session: Session<Counters>) -> StatusCode {
    session.update(|c| c.visits += 100);
    if session.visits > 0 {
        panic!("handler bug");
    }
    StatusCode::NO_CONTENT
}

fn panicking_routes(_: &AppContext) -> Result<Vec<RouteDef>, BuildError> {
    Ok(vec![
        RouteDef {
            method: Method::GET,
            path: "/caught",
            guard: Guard::OPEN,
            // The panic is caught inside the interceptors: they see a 500.
            handler: get(visit_then_panic).layer(middleware::from_fn(catch_panics)),
        },
        RouteDef {
            method: Method::GET,
            path: "/uncaught",
            guard: Guard::OPEN,
            // Caught only by the app-wide catcher outside the interceptors.
            handler: get(visit_then_panic),
        },
    ])
}

/// The shared test routes, passed by hand to apps built without the registry.
static TEST_ROUTES_BY_HAND: ControllerRegistration = ControllerRegistration {
    name: "TestRoutesByHand",
    base_path: "/t",
    routes: crate::app::routes,
};

static PANICKING: ControllerRegistration = ControllerRegistration {
    name: "RtPanicking",
    base_path: "/rt-panic",
    routes: panicking_routes,
};

#[tokio::test]
async fn a_handler_panic_caught_inside_or_outside_the_interceptors_persists_nothing() {
    let clock = session_core::MockClock::starting_now();
    let store = session_core::conformance::RecordingStore::new(MemoryStore::with_clock(Arc::new(
        clock.clone(),
    )));
    let builder = App::builder()
        .store(store.clone())
        .secret(key(1))
        .secure(false)
        .cookie_name("sid")
        .clock(Arc::new(clock.clone()))
        .controller(&PANICKING)
        .controller(&TEST_ROUTES_BY_HAND);
    let app = builder.use_registry(false).build().expect("builds");
    // Also caught outside every interceptor, for a route without its own catcher.
    let router = app
        .into_router()
        .route_layer(middleware::from_fn(catch_panics));
    let server = session_tests::http::TestServer::start(router).await;
    let mut b = server.browser();
    b.get("/t/visit").await;
    store.clear();
    for path in ["/rt-panic/caught", "/rt-panic/uncaught"] {
        let r = b.get(path).await;
        assert_eq!(r.status, 500, "{path}");
        assert_eq!(r.body, "handler failed", "{path}");
        assert!(r.set_cookies.is_empty(), "{path}: {:?}", r.set_cookies);
        assert!(store.writes().is_empty(), "{path}: {:?}", store.writes());
    }
    assert_eq!(b.get("/t/peek").await.json()["visits"], 1);
}

/// An app interceptor inside the session interceptor that answers itself
/// (a 4xx after writing the session): below 500, the session persists.
#[derive(Default)]
struct ShortCircuit;

#[session_axum::async_trait]
impl Interceptor for ShortCircuit {
    async fn intercept(&self, request: Request, next: Next) -> Response {
        if !request.headers().contains_key("x-short") {
            return next.run(request).await;
        }
        let session = request.extensions().get::<RequestSession>().cloned();
        let Some(session) = session else {
            return StatusCode::IM_A_TEAPOT.into_response();
        };
        let mut typed = session
            .service()
            .typed::<Counters>(session.cell())
            .expect("typed");
        typed.update(|c| c.visits += 10);
        drop(typed);
        let status = match request.headers()["x-short"].as_bytes() {
            b"500" => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::FORBIDDEN,
        };
        (status, "short").into_response()
    }
}

static SHORT: InterceptorRegistration = InterceptorRegistration {
    interceptor: InterceptorRef::of::<ShortCircuit>(),
    depends_on: &[InterceptorRef::of::<SessionInterceptor>()],
    runs_before: &[],
    builtin: false,
    build: |_| Ok(Arc::new(ShortCircuit)),
};

#[tokio::test]
async fn an_interceptor_short_circuit_persists_below_500_and_not_at_500() {
    let app = bare()
        .cookie_name("sid")
        .interceptor(&SHORT)
        .controller(&TEST_ROUTES_BY_HAND)
        .build()
        .expect("builds");
    assert_eq!(
        app.interceptor_order(),
        ["AuthInterceptor", "SessionInterceptor", "ShortCircuit"]
    );
    let server = session_tests::http::TestServer::start(app.into_router()).await;
    let client = session_tests::http::client();
    let mut b = server.browser();
    b.get("/t/visit").await;
    let cookie = format!("sid={}", b.jar["sid"]);
    for (header, status, visits) in [("500", 500, 1), ("403", 403, 11)] {
        let r = client
            .get(server.url("/t/peek"))
            .header("cookie", &cookie)
            .header("x-short", header)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status);
        assert_eq!(
            b.get("/t/peek").await.json()["visits"],
            visits,
            "after {status}"
        );
    }
}

/// The principal extractor on an open route of the same app: a 401 body
/// with nothing of the internals.
#[tokio::test]
async fn rejections_name_no_internals() {
    async fn me(p: Principal) -> String {
        p.user_id
    }
    fn routes(_: &AppContext) -> Result<Vec<RouteDef>, BuildError> {
        Ok(vec![RouteDef {
            method: Method::GET,
            path: "/me",
            guard: Guard::OPEN,
            handler: get(me),
        }])
    }
    static OPEN_ME: ControllerRegistration = ControllerRegistration {
        name: "RtOpenMe",
        base_path: "/rt-open",
        routes,
    };
    let app = bare().controller(&OPEN_ME).build().expect("builds");
    let server = session_tests::http::TestServer::start(app.into_router()).await;
    let r = server.browser().get("/rt-open/me").await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body, r#"{"error":"authentication required"}"#);
}

/// Plain routes merged into the app at a guarded controller route's path
/// and method are refused, never served around the guard.
#[tokio::test]
async fn merged_routes_cannot_shadow_a_guarded_route() {
    let shadows: Vec<axum::Router> = vec![
        axum::Router::new().route("/rt-guard/json", post(secret)),
        axum::Router::new().route_service(
            "/rt-guard/json",
            axum::handler::HandlerWithoutStateExt::into_service(secret),
        ),
        axum::Router::new().nest(
            "/rt-guard",
            axum::Router::new().route("/json", post(secret)),
        ),
    ];
    for (i, shadow) in shadows.into_iter().enumerate() {
        match bare().controller(&GUARDED_JSON).merge(shadow).build() {
            Err(BuildError::RouteConflict { .. }) => {}
            Err(other) => panic!("shadow {i}: {other}"),
            Ok(app) => {
                let server = session_tests::http::TestServer::start(app.into_router()).await;
                let r = server.browser().post("/rt-guard/json").await;
                assert_eq!(r.status, 401, "shadow {i}: {}", r.body);
            }
        }
    }
}
