//! The test app: routes registered by hand (no macros), a user interceptor
//! from the registry, a recording store and a mock clock.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, Request};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http::Method;
use serde::Deserialize;
use session_axum::{
    App, Auth, Binding, ControllerRegistration, Guard, Interceptor, InterceptorRef,
    InterceptorRegistration, Key, Next, Principal, RequestSession, RouteDef, Session,
    SessionInterceptor, Sessions, SigningKeys,
};
use session_core::conformance::RecordingStore;
use session_core::{CookieLifetime, ExpiryPolicy, MemoryStore, MockClock};
use session_tests::http::TestServer;
use session_tests::profile::Counters;

pub const MIN: Duration = Duration::from_secs(60);

async fn visit(mut session: Session<Counters>) -> Json<u64> {
    session.update(|c| c.visits += 1);
    Json(session.visits)
}

async fn peek(session: Session<Counters>) -> Json<serde_json::Value> {
    Json(serde_json::json!({"visits": session.visits, "a": session.a, "b": session.b}))
}

#[derive(Deserialize)]
struct Set {
    v: String,
}

async fn set_a(mut session: Session<Counters>, Query(q): Query<Set>) -> StatusCode {
    tokio::time::sleep(Duration::from_millis(30)).await;
    session.update(|c| c.a = Some(q.v));
    StatusCode::NO_CONTENT
}

async fn set_b(mut session: Session<Counters>, Query(q): Query<Set>) -> StatusCode {
    tokio::time::sleep(Duration::from_millis(30)).await;
    session.update(|c| c.b = Some(q.v));
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct Big {
    n: usize,
}

async fn big(mut session: Session<Counters>, Query(q): Query<Big>) -> StatusCode {
    session.update(|c| c.a = Some("x".repeat(q.n)));
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct LoginQuery {
    user: String,
    perm: Option<String>,
    /// A "remember me" box; absent, the app's cookie settings apply.
    remember: Option<bool>,
    /// The login's own session lifetime; absent, the policy's.
    lifetime_mins: Option<u64>,
    /// The login's own absolute limit; absent, the policy's.
    absolute_mins: Option<u64>,
}

async fn login(auth: Auth, Query(q): Query<LoginQuery>) -> StatusCode {
    let lifetime = q
        .remember
        .map_or(CookieLifetime::AppDefault, CookieLifetime::remember_me);
    let mut binding = Binding::user(q.user)
        .with_permissions(q.perm)
        .with_label("test")
        .with_cookie_lifetime(lifetime);
    if let Some(mins) = q.lifetime_mins {
        binding = binding.with_lifetime(Duration::from_secs(mins * 60));
    }
    if let Some(mins) = q.absolute_mins {
        binding = binding.with_absolute(Duration::from_secs(mins * 60));
    }
    auth.login(binding);
    StatusCode::NO_CONTENT
}

async fn login_bearer(auth: Auth, Query(q): Query<LoginQuery>) -> impl IntoResponse {
    auth.login_bearer(Binding::user(q.user))
}

async fn logout(auth: Auth) -> impl IntoResponse {
    auth.logout().await
}

/// Reads the session's data (which may turn out invalid) before logging out.
async fn logout_after_read(session: Session<Counters>, auth: Auth) -> impl IntoResponse {
    drop(session);
    auth.logout().await
}

async fn me(principal: Principal) -> Json<Principal> {
    Json(principal)
}

async fn admin(principal: Principal) -> String {
    format!("hello admin {}", principal.user_id)
}

async fn fail(mut session: Session<Counters>) -> StatusCode {
    session.update(|c| c.visits += 100);
    StatusCode::INTERNAL_SERVER_ERROR
}

async fn not_found_with_change(mut session: Session<Counters>) -> StatusCode {
    session.update(|c| c.visits += 1);
    StatusCode::NOT_FOUND
}

async fn list(sessions: Sessions, principal: Principal) -> Json<Vec<String>> {
    let items = sessions
        .list_for_user(&principal.user_id)
        .await
        .unwrap_or_default();
    Json(items.into_iter().map(|i| i.id.to_string()).collect())
}

async fn revoke_others(auth: Auth) -> Result<Json<usize>, session_axum::SessionRejection> {
    auth.revoke_others().await.map(Json)
}

/// The visit counter on untyped values, beside the typed one.
async fn values_visit(
    values: session_axum::SessionValues,
) -> Result<Json<u64>, session_axum::SessionRejection> {
    let visits = values.get::<u64>("values_visits")?.unwrap_or(0) + 1;
    values.insert("values_visits", visits)?;
    Ok(Json(visits))
}

async fn values_peek(
    values: session_axum::SessionValues,
) -> Result<Json<Option<u64>>, session_axum::SessionRejection> {
    Ok(Json(values.get::<u64>("values_visits")?))
}

async fn devices(
    auth: Auth,
) -> Result<Json<Vec<session_axum::ListedSession>>, session_axum::SessionRejection> {
    auth.sessions().await.map(Json)
}

async fn revoke_device(
    auth: Auth,
    axum::extract::Path(handle): axum::extract::Path<session_axum::SessionHandle>,
) -> Result<StatusCode, session_axum::SessionRejection> {
    Ok(match auth.revoke(&handle).await? {
        true => StatusCode::NO_CONTENT,
        false => StatusCode::NOT_FOUND,
    })
}

/// Signals that a compare-and-set visit has loaded its session, and holds it
/// until the test lets it go.
pub static CAS_LOADED: tokio::sync::Notify = tokio::sync::Notify::const_new();
pub static CAS_GO: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// A visit whose save is a compare-and-set on the revision it loaded, held
/// between the load and the persist.
async fn visit_unless_changed(mut session: Session<Counters>) -> Json<u64> {
    session.require_unchanged_revision();
    session.update(|c| c.visits += 1);
    CAS_LOADED.notify_one();
    CAS_GO.notified().await;
    Json(session.visits)
}

/// Signals that a held visit has loaded its session, and holds it until the
/// test lets it go.
pub static HELD_LOADED: tokio::sync::Notify = tokio::sync::Notify::const_new();
pub static HELD_GO: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// A visit held between the load and the persist.
async fn visit_held(mut session: Session<Counters>) -> Json<u64> {
    session.update(|c| c.visits += 1);
    HELD_LOADED.notify_one();
    HELD_GO.notified().await;
    Json(session.visits)
}

/// A password change, say: a new session id, then the other devices out.
async fn rotate_and_revoke_others(
    mut session: Session<Counters>,
    auth: Auth,
) -> Result<Json<usize>, session_axum::SessionRejection> {
    session.rotate();
    auth.revoke_others().await.map(Json)
}

pub fn routes(_: &session_axum::AppContext) -> Result<Vec<RouteDef>, session_axum::BuildError> {
    Ok(vec![
        RouteDef {
            method: Method::GET,
            path: "/visit",
            guard: Guard::OPEN,
            handler: get(visit),
        },
        RouteDef {
            method: Method::GET,
            path: "/peek",
            guard: Guard::OPEN,
            handler: get(peek),
        },
        RouteDef {
            method: Method::GET,
            path: "/set-a",
            guard: Guard::OPEN,
            handler: get(set_a),
        },
        RouteDef {
            method: Method::GET,
            path: "/set-b",
            guard: Guard::OPEN,
            handler: get(set_b),
        },
        RouteDef {
            method: Method::GET,
            path: "/big",
            guard: Guard::OPEN,
            handler: get(big),
        },
        RouteDef {
            method: Method::POST,
            path: "/login",
            guard: Guard::OPEN,
            handler: post(login),
        },
        RouteDef {
            method: Method::POST,
            path: "/token",
            guard: Guard::OPEN,
            handler: post(login_bearer),
        },
        RouteDef {
            method: Method::POST,
            path: "/logout",
            guard: Guard::OPEN,
            handler: post(logout),
        },
        RouteDef {
            method: Method::POST,
            path: "/logout-after-read",
            guard: Guard::OPEN,
            handler: post(logout_after_read),
        },
        RouteDef {
            method: Method::GET,
            path: "/me",
            guard: Guard::AUTHENTICATED,
            handler: get(me),
        },
        RouteDef {
            method: Method::GET,
            path: "/admin",
            guard: Guard::permissions(&["admin"]),
            handler: get(admin),
        },
        RouteDef {
            method: Method::GET,
            path: "/guarded-peek",
            guard: Guard::AUTHENTICATED,
            handler: get(peek),
        },
        RouteDef {
            method: Method::GET,
            path: "/guarded-visit",
            guard: Guard::AUTHENTICATED,
            handler: get(visit),
        },
        RouteDef {
            method: Method::GET,
            path: "/fail",
            guard: Guard::OPEN,
            handler: get(fail),
        },
        RouteDef {
            method: Method::GET,
            path: "/missing",
            guard: Guard::OPEN,
            handler: get(not_found_with_change),
        },
        RouteDef {
            method: Method::GET,
            path: "/sessions",
            guard: Guard::AUTHENTICATED,
            handler: get(list),
        },
        RouteDef {
            method: Method::GET,
            // Open: `Auth` itself answers 401 without a principal.
            path: "/devices",
            guard: Guard::OPEN,
            handler: get(devices),
        },
        RouteDef {
            method: Method::DELETE,
            // Open: `Auth` itself answers 401 without a principal.
            path: "/devices/{handle}",
            guard: Guard::OPEN,
            handler: axum::routing::delete(revoke_device),
        },
        RouteDef {
            method: Method::POST,
            path: "/revoke-others",
            guard: Guard::AUTHENTICATED,
            handler: post(revoke_others),
        },
        RouteDef {
            method: Method::GET,
            path: "/visit-unless-changed",
            guard: Guard::OPEN,
            handler: get(visit_unless_changed),
        },
        RouteDef {
            method: Method::GET,
            path: "/visit-held",
            guard: Guard::OPEN,
            handler: get(visit_held),
        },
        RouteDef {
            method: Method::POST,
            path: "/rotate-revoke-others",
            guard: Guard::AUTHENTICATED,
            handler: post(rotate_and_revoke_others),
        },
        RouteDef {
            method: Method::GET,
            path: "/values-visit",
            guard: Guard::OPEN,
            handler: get(values_visit),
        },
        RouteDef {
            method: Method::GET,
            path: "/values-peek",
            guard: Guard::OPEN,
            handler: get(values_peek),
        },
    ])
}

session_axum::register_controller!(ControllerRegistration {
    name: "TestRoutes",
    base_path: "/t",
    routes,
});

/// A user interceptor declared to run inside the session interceptor. It
/// reports what it sees, which proves where it runs.
#[derive(Default)]
pub struct Observer;

#[session_axum::async_trait]
impl Interceptor for Observer {
    async fn intercept(&self, request: Request, next: Next) -> Response {
        let seen = match request.extensions().get::<RequestSession>() {
            Some(_) => match Principal::of(&request) {
                Some(p) => format!("session;principal={}", p.user_id),
                None => "session;anonymous".to_owned(),
            },
            None => "no-session".to_owned(),
        };
        let mut response = next.run(request).await;
        if let Ok(v) = HeaderValue::from_str(&seen) {
            response.headers_mut().insert("x-observer", v);
        }
        response
    }
}

session_axum::register_interceptor!(InterceptorRegistration {
    interceptor: InterceptorRef::of::<Observer>(),
    depends_on: &[InterceptorRef::of::<SessionInterceptor>()],
    runs_before: &[],
    builtin: false,
    build: |_| Ok(Arc::new(Observer)),
});

/// An app interceptor declared to run outside the auth interceptor: after
/// the inner steps it reports whether the session the response's cookie
/// names is already stored, which proves the session persists before the
/// response leaves auth.
pub struct Outer {
    service: session_core::SessionService,
}

#[session_axum::async_trait]
impl Interceptor for Outer {
    async fn intercept(&self, request: Request, next: Next) -> Response {
        // Only when asked: the check is a store read of its own.
        let asked = request.headers().contains_key("x-outer");
        let mut response = next.run(request).await;
        if !asked {
            return response;
        }
        // Proof that it ran, whatever the inner steps answered.
        let ran = HeaderValue::from_static("1");
        response.headers_mut().insert("x-outer-ran", ran);
        let token = response
            .headers()
            .get_all(http::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| v.strip_prefix("sid=")?.split(';').next())
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        if let Some(id) = token.and_then(|t| self.service.session_id_from_token(&t)) {
            let stored = matches!(self.service.record(&id).await, Ok(Some(_)));
            let seen = if stored { "stored" } else { "not stored" };
            response
                .headers_mut()
                .insert("x-outer", HeaderValue::from_static(seen));
        }
        response
    }
}

session_axum::register_interceptor!(InterceptorRegistration {
    interceptor: InterceptorRef::of::<Outer>(),
    depends_on: &[],
    runs_before: &[InterceptorRef::of::<session_axum::AuthInterceptor>()],
    builtin: false,
    build: |ctx| {
        Ok(Arc::new(Outer {
            service: ctx.service().clone(),
        }))
    },
});

pub struct TestApp {
    pub server: TestServer,
    pub store: RecordingStore<MemoryStore>,
    pub clock: MockClock,
    pub app_order: Vec<&'static str>,
    pub service: session_core::SessionService,
}

pub fn policy() -> ExpiryPolicy {
    ExpiryPolicy {
        initial_lifetime: 5 * MIN,
        lifetime: 60 * MIN,
        refresh_threshold: 0.5,
        absolute: None,
    }
}

pub fn key(n: u8) -> Key {
    Key::new([n; 32]).unwrap()
}

pub async fn start() -> TestApp {
    start_with(SigningKeys::single(key(1)), |b| b).await
}

pub async fn start_with(
    keys: SigningKeys,
    configure: impl FnOnce(session_axum::AppBuilder) -> session_axum::AppBuilder,
) -> TestApp {
    let clock = MockClock::starting_now();
    let store = RecordingStore::new(MemoryStore::with_clock(Arc::new(clock.clone())));
    start_on(store, clock, keys, configure).await
}

pub async fn start_on(
    store: RecordingStore<MemoryStore>,
    clock: MockClock,
    keys: SigningKeys,
    configure: impl FnOnce(session_axum::AppBuilder) -> session_axum::AppBuilder,
) -> TestApp {
    let builder = App::builder()
        .store(store.clone())
        .keys(&keys)
        .secure(false)
        .cookie_name("sid")
        .expiry(policy())
        .clock(Arc::new(clock.clone()))
        .merge(Router::new().route("/plain", get(|| async { "plain" })));
    let app = configure(builder).build().expect("app builds");
    let app_order = app.interceptor_order().to_vec();
    let service = app.service().clone();
    let server = TestServer::start(app.into_router()).await;
    TestApp {
        server,
        store,
        clock,
        app_order,
        service,
    }
}
