//! The session app inside a real axum and tower stack, over real HTTP: tower-http
//! layers around it (timeouts, compression, CORS, body limits), routers beside
//! it (`nest`, `merge`, fallbacks, `ServeDir`), `HEAD` and `OPTIONS`, graceful
//! shutdown, HTTP/2, and concurrent requests on one session.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Extension, Path, Query};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::routing::{get, put};
use serde::Deserialize;
use session_axum::prelude::*;
use session_axum::{AppBuilder, SessionStore};
use session_core::{SaveOutcome, SessionId, SessionPatch, SessionRecord, Timestamp};
use session_tests::hooked::{After, Hooked};
use session_tests::http::{Browser, Reply, TestServer, client_builder};
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{Barrier, Notify, oneshot};
use tower_http::compression::CompressionLayer;
use tower_http::cors::CorsLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::services::ServeDir;
use tower_http::timeout::TimeoutLayer;

/// Hang protection only: no test asserts how long anything took.
const DEADLINE: Duration = Duration::from_secs(20);

/// Every session's lifetime, new or used.
const LIFETIME: Duration = Duration::from_secs(6 * 3600);

/// How long the timeout layers give a handler that never finishes by itself.
const TIMEOUT: Duration = Duration::from_millis(200);

#[session_data]
#[derive(Debug, Clone, Default)]
pub struct Cart {
    pub note: Option<String>,
    pub theme: Option<String>,
    pub visits: u64,
}

/// What the handlers wait on, so that tests decide when they go on.
pub struct Gates {
    /// A handler tells it is running (and holds its session).
    started: Notify,
    /// The test lets a held handler go on.
    release: Notify,
    /// Two requests meet here once both have loaded and changed the session.
    both: Barrier,
    /// A held handler was dropped before it finished.
    dropped: Notify,
}

/// Tells [`Gates::dropped`] when a handler is dropped before it finishes.
struct DropAlarm<'a>(Option<&'a Gates>);

impl Drop for DropAlarm<'_> {
    fn drop(&mut self) {
        if let Some(gates) = self.0 {
            gates.dropped.notify_one();
        }
    }
}

impl Gates {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            started: Notify::new(),
            release: Notify::new(),
            both: Barrier::new(2),
            dropped: Notify::new(),
        })
    }
}

#[derive(Deserialize)]
pub struct Hold {
    #[serde(default)]
    hold: bool,
    /// Save only if no other request saved the session meanwhile.
    #[serde(default)]
    cas: bool,
    /// Alone: meets no other request at the barrier.
    #[serde(default)]
    solo: bool,
}

pub struct Shop;

#[controller("/shop")]
impl Shop {
    #[get("/visit")]
    async fn visit(mut session: Session<Cart>) -> String {
        session.update_visits(|n| *n += 1);
        session.visits().to_string()
    }

    /// A counted visit whose page is large enough to be compressed.
    #[get("/big")]
    async fn big(mut session: Session<Cart>) -> String {
        session.update_visits(|n| *n += 1);
        "a page worth compressing ".repeat(200)
    }

    #[get("/peek")]
    async fn peek(session: Session<Cart>) -> Json<serde_json::Value> {
        Json(serde_json::json!({
            "note": session.note(),
            "theme": session.theme(),
            "visits": session.visits(),
        }))
    }

    #[get("/plain")]
    async fn plain() -> &'static str {
        "no session here"
    }

    #[post("/note")]
    async fn note(mut session: Session<Cart>, body: String) -> String {
        let len = body.len();
        session.set_note(Some(body));
        len.to_string()
    }

    /// Changes the session, then waits for the test (or a timeout).
    #[put("/slow")]
    async fn slow(
        mut session: Session<Cart>,
        Extension(gates): Extension<Arc<Gates>>,
    ) -> StatusCode {
        slow_change(&mut session, &gates).await
    }

    /// Sets one field, meets the other request at the barrier (both have
    /// loaded the session by then), and with `?hold=true` waits for the test
    /// before answering.
    #[put("/field/{name}/{value}")]
    async fn field(
        mut session: Session<Cart>,
        Path((name, value)): Path<(String, String)>,
        Query(hold): Query<Hold>,
        Extension(gates): Extension<Arc<Gates>>,
    ) -> StatusCode {
        match name.as_str() {
            "note" => session.set_note(Some(value)),
            "theme" => session.set_theme(Some(value)),
            _ => return StatusCode::BAD_REQUEST,
        }
        if hold.cas {
            session.require_unchanged_revision();
        }
        if !hold.solo {
            gates.both.wait().await;
        }
        if hold.hold {
            gates.release.notified().await;
        }
        StatusCode::NO_CONTENT
    }

    #[post("/login")]
    async fn login(auth: Auth) -> StatusCode {
        auth.login(Binding::user("ada"));
        StatusCode::NO_CONTENT
    }

    #[get("/who")]
    async fn who(principal: Option<Principal>) -> String {
        principal.map_or_else(|| "nobody".to_owned(), |p| p.user_id)
    }

    /// Waits for the test with the request in flight, then changes the session.
    #[put("/held")]
    async fn held(
        mut session: Session<Cart>,
        Extension(gates): Extension<Arc<Gates>>,
    ) -> StatusCode {
        gates.started.notify_one();
        gates.release.notified().await;
        session.set_note(Some("written while shutting down".into()));
        StatusCode::NO_CONTENT
    }
}

async fn slow_change(session: &mut Session<Cart>, gates: &Gates) -> StatusCode {
    session.set_note(Some("before the wait".into()));
    let mut alarm = DropAlarm(Some(gates));
    gates.started.notify_one();
    gates.release.notified().await;
    alarm.0 = None;
    session.set_theme(Some("after the wait".into()));
    StatusCode::NO_CONTENT
}

/// A plain route's version of [`Shop::slow`], for routers given to `merge`.
async fn plain_slow(
    mut session: Session<Cart>,
    Extension(gates): Extension<Arc<Gates>>,
) -> StatusCode {
    slow_change(&mut session, &gates).await
}

async fn plain_visit(mut session: Session<Cart>) -> String {
    session.update_visits(|n| *n += 1);
    session.visits().to_string()
}

async fn not_found_page(session: Session<Cart>) -> (StatusCode, String) {
    (
        StatusCode::NOT_FOUND,
        format!("nothing here after {} visits", session.visits()),
    )
}

/// An app on `store`. New sessions get the full lifetime at once, so that
/// no request but the first sends a cookie (by default a new session's
/// first reuse moves it to the full lifetime, with a cookie, which would
/// land on whichever request follows in another millisecond).
fn builder(store: &Arc<MemoryStore>) -> AppBuilder {
    on_store(store.clone())
}

fn on_store(store: Arc<dyn SessionStore>) -> AppBuilder {
    App::builder()
        .shared_store(store)
        .secret(Key::generate())
        .secure(false)
        .initial_lifetime(LIFETIME)
        .lifetime(LIFETIME)
}

fn session_cookies(reply: &Reply) -> usize {
    reply.set_cookies.iter().filter(|c| c.name == "id").count()
}

async fn peek(browser: &mut Browser) -> serde_json::Value {
    let reply = browser.get("/shop/peek").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()
}

/// A browser on another server holding `browser`'s cookies.
fn same_cookies(browser: &Browser, addr: SocketAddr) -> Browser {
    let mut other = Browser::new(addr);
    other.jar = browser.jar.clone();
    other
}

async fn within<F: Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(DEADLINE, future)
        .await
        .unwrap_or_else(|_| panic!("hung: {what}"))
}

// ---------------------------------------------------------------- timeouts

/// A timeout around the whole app cancels the request with its persist:
/// the change made before the cancel is not saved, no cookie is sent, and
/// the session goes on working.
#[tokio::test]
async fn a_timeout_around_the_app_drops_the_cancelled_requests_changes() {
    let store = Arc::new(MemoryStore::new());
    let gates = Gates::new();
    let app = builder(&store).provide(gates.clone()).build().unwrap();
    let router = app.into_router().layer(TimeoutLayer::with_status_code(
        StatusCode::REQUEST_TIMEOUT,
        TIMEOUT,
    ));
    let server = TestServer::start(router).await;
    let mut b = server.browser();

    assert_eq!(b.get("/shop/visit").await.body, "1");
    let cancelled = within(
        "the cancelled request",
        b.send(Method::PUT, "/shop/slow", None),
    )
    .await;
    assert_eq!(cancelled.status, 408);
    assert!(
        cancelled.set_cookies.is_empty(),
        "{:?}",
        cancelled.set_cookies
    );
    assert_eq!(
        peek(&mut b).await,
        serde_json::json!({"note": null, "theme": null, "visits": 1})
    );
    // The session is not held by the cancelled request: writes go on.
    assert_eq!(b.get("/shop/visit").await.body, "2");

    // A new visitor's cancelled first write leaves no session behind.
    let mut fresh = server.browser();
    let cancelled = fresh.send(Method::PUT, "/shop/slow", None).await;
    assert_eq!(cancelled.status, 408);
    assert!(cancelled.set_cookies.is_empty());
    assert!(fresh.jar.is_empty());
    assert_eq!(store.len(), 1);
}

/// A file store in a directory of its own, which lives as long as the
/// directory returned with it.
fn file_store() -> (tempfile::TempDir, Arc<dyn SessionStore>) {
    let dir = tempfile::tempdir().unwrap();
    let store = session_file::FileStore::builder(dir.path().join("sessions.redb"))
        .without_cleanup()
        .open()
        .unwrap();
    (dir, Arc::new(store))
}

/// A server whose app merges `/inner/slow` under a timeout answering
/// `status`, and its store.
async fn inner_timeout_server(status: StatusCode) -> (Arc<MemoryStore>, TestServer) {
    let store = Arc::new(MemoryStore::new());
    let slow = Router::new()
        .route("/inner/slow", put(plain_slow))
        .layer(TimeoutLayer::with_status_code(status, TIMEOUT));
    let app = builder(&store)
        .provide(Gates::new())
        .merge(slow)
        .build()
        .unwrap();
    (store, TestServer::start(app.into_router()).await)
}

/// A timeout inside the app (on a router given to `merge`) cancels the
/// handler only: the session layer still runs, on the timeout's answer. A
/// `408 Request Timeout` is a response below 500, which persists the
/// session (the layer cannot tell a timeout's 408 from a handler's own):
/// what the handler changed before the cancel is saved, and a new visitor
/// gets a session. A 5xx (below) drops them.
#[tokio::test]
async fn a_timeout_inside_the_app_answering_408_keeps_the_changes_made_before_it() {
    let (store, server) = inner_timeout_server(StatusCode::REQUEST_TIMEOUT).await;
    let mut b = server.browser();

    assert_eq!(b.get("/shop/visit").await.body, "1");
    let cancelled = within(
        "the cancelled request",
        b.send(Method::PUT, "/inner/slow", None),
    )
    .await;
    assert_eq!(cancelled.status, 408);
    assert!(
        cancelled.set_cookies.is_empty(),
        "the session existed: {:?}",
        cancelled.set_cookies
    );
    assert_eq!(
        peek(&mut b).await,
        serde_json::json!({"note": "before the wait", "theme": null, "visits": 1})
    );
    assert_eq!(b.get("/shop/visit").await.body, "2");

    let mut fresh = server.browser();
    assert_eq!(
        fresh.send(Method::PUT, "/inner/slow", None).await.status,
        408
    );
    assert!(!fresh.jar.is_empty(), "a new visitor's session is made");
    assert_eq!(
        peek(&mut fresh).await,
        serde_json::json!({"note": "before the wait", "theme": null, "visits": 0})
    );
    assert_eq!(store.len(), 2);
}

/// The same timeout answering a 5xx: the session layer persists nothing for
/// a failed request, so the half-done change is dropped.
#[tokio::test]
async fn a_timeout_inside_the_app_answering_5xx_drops_the_changes_made_before_it() {
    let (store, server) = inner_timeout_server(StatusCode::SERVICE_UNAVAILABLE).await;
    let mut b = server.browser();

    assert_eq!(b.get("/shop/visit").await.body, "1");
    let cancelled = within(
        "the cancelled request",
        b.send(Method::PUT, "/inner/slow", None),
    )
    .await;
    assert_eq!(cancelled.status, 503);
    assert!(cancelled.set_cookies.is_empty());
    assert_eq!(
        peek(&mut b).await,
        serde_json::json!({"note": null, "theme": null, "visits": 1})
    );
    assert_eq!(b.get("/shop/visit").await.body, "2");

    let mut fresh = server.browser();
    assert_eq!(
        fresh.send(Method::PUT, "/inner/slow", None).await.status,
        503
    );
    assert!(fresh.jar.is_empty());
    assert_eq!(store.len(), 1);
}

/// Where a login's persist stalls, for a timeout around the app to cancel it.
#[derive(Clone, Copy, PartialEq)]
enum Stall {
    /// Once the new session is written, before the old one is touched.
    AfterCreate,
    /// Once the old session is closed, before it is deleted.
    AfterClose,
}

struct StallOnce {
    at: Stall,
    armed: Arc<AtomicBool>,
}

#[session_axum::async_trait]
impl After for StallOnce {
    async fn created(&self, _: &SessionRecord) {
        if self.at == Stall::AfterCreate && self.armed.swap(false, Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
    }

    async fn saved(&self, _: &SessionId, patch: &SessionPatch, _: &SaveOutcome) {
        let closing = patch.expires_at == Some(Timestamp::EPOCH);
        if self.at == Stall::AfterClose && closing && self.armed.swap(false, Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
    }
}

/// A login whose persist a timeout around the app cancels midway: the
/// browser gets no cookie, nothing fails later, and logging in again works.
/// Cancelled before the old session is closed, the browser keeps it as it
/// was; after, its old cookie names a moved session, as when a login's
/// answer is lost on the way: it reads as no session, and its writes are
/// dropped until it logs in again.
async fn a_login_cancelled_in_its_persist(at: Stall) {
    let memory = Arc::new(MemoryStore::new());
    let armed = Arc::new(AtomicBool::new(false));
    let store = Hooked::new(
        memory.clone(),
        StallOnce {
            at,
            armed: armed.clone(),
        },
    );
    let app = on_store(Arc::new(store)).build().unwrap();
    let service = app.service().clone();
    let router = app.into_router().layer(TimeoutLayer::with_status_code(
        StatusCode::REQUEST_TIMEOUT,
        TIMEOUT,
    ));
    let server = TestServer::start(router).await;
    let mut b = server.browser();
    assert_eq!(b.get("/shop/visit").await.body, "1");
    assert_eq!(b.get("/shop/visit").await.body, "2");

    armed.store(true, Ordering::SeqCst);
    let cancelled = within("the cancelled login", b.post("/shop/login")).await;
    assert_eq!(cancelled.status, 408);
    assert!(
        cancelled.set_cookies.is_empty(),
        "{:?}",
        cancelled.set_cookies
    );
    assert!(
        !armed.load(Ordering::SeqCst),
        "the login did not reach the stall"
    );

    assert_eq!(b.get("/shop/who").await.body, "nobody");
    let visits = peek(&mut b).await["visits"].clone();
    match at {
        Stall::AfterCreate => assert_eq!(visits, 2),
        Stall::AfterClose => {
            assert_eq!(visits, 0);
            // Its writes are dropped for the marker's minute, not started
            // as a new session whose cookie could replace the login's.
            let dropped = b.get("/shop/visit").await;
            assert_eq!(dropped.status, 200);
            assert!(dropped.set_cookies.is_empty(), "{:?}", dropped.set_cookies);
            assert_eq!(peek(&mut b).await["visits"], 0);
        }
    }
    let again = b.post("/shop/login").await;
    assert_eq!(again.status, 204);
    assert_eq!(session_cookies(&again), 1);
    assert_eq!(b.get("/shop/who").await.body, "ada");
    let visit = b.get("/shop/visit").await;
    assert_eq!(visit.status, 200);
    let expected = match at {
        Stall::AfterCreate => "3",
        Stall::AfterClose => "1",
    };
    assert_eq!(visit.body, expected);
    // The cancelled login's session, written and never delivered, is listed
    // with the user's until it expires, as one whose answer was lost.
    assert_eq!(service.list_for_user("ada").await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_login_cancelled_before_it_closes_the_old_session_leaves_it_as_it_was() {
    a_login_cancelled_in_its_persist(Stall::AfterCreate).await;
}

#[tokio::test]
async fn a_login_cancelled_after_it_closed_the_old_session_can_be_made_again() {
    a_login_cancelled_in_its_persist(Stall::AfterClose).await;
}

/// A client that goes away while its handler runs (HTTP/1.1: closing the
/// connection; HTTP/2: resetting the stream) has the request dropped, its
/// persist with it: nothing the handler changed is saved.
async fn a_client_going_away(http2: bool) {
    let store = Arc::new(MemoryStore::new());
    let gates = Gates::new();
    let app = builder(&store).provide(gates.clone()).build().unwrap();
    let server = TestServer::start(app.into_router()).await;
    let mut b = server.browser();
    assert_eq!(b.get("/shop/visit").await.body, "1");

    let client = match http2 {
        true => client_builder().http2_prior_knowledge().build().unwrap(),
        false => client_builder().build().unwrap(),
    };
    let request = client
        .put(server.url("/shop/slow"))
        .header(header::COOKIE, b.cookie_header())
        .send();
    let abandoned = tokio::spawn(request);
    within("the handler to start", gates.started.notified()).await;
    abandoned.abort();
    drop(client);
    within("the handler to be dropped", gates.dropped.notified()).await;
    assert_eq!(
        peek(&mut b).await,
        serde_json::json!({"note": null, "theme": null, "visits": 1})
    );
    assert_eq!(b.get("/shop/visit").await.body, "2");
}

#[tokio::test]
async fn a_client_closing_its_http1_connection_has_nothing_saved() {
    a_client_going_away(false).await;
}

#[tokio::test]
async fn a_client_resetting_its_http2_stream_has_nothing_saved() {
    a_client_going_away(true).await;
}

/// Cancels the request at its `n`th wait (`x-cancel-at-wait: n`, from 0):
/// the first time the app's future is pending for the `n + 1`th time, it is
/// dropped, as a timeout or a client going away would drop it there.
async fn cancel_at_wait(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let wait = request
        .headers()
        .get("x-cancel-at-wait")
        .and_then(|v| v.to_str().ok()?.parse::<u32>().ok());
    let Some(mut waits_left) = wait else {
        return next.run(request).await;
    };
    let mut running = std::pin::pin!(next.run(request));
    std::future::poll_fn(|cx| match running.as_mut().poll(cx) {
        std::task::Poll::Ready(response) => std::task::Poll::Ready(response),
        std::task::Poll::Pending if waits_left == 0 => {
            std::task::Poll::Ready(StatusCode::REQUEST_TIMEOUT.into_response())
        }
        std::task::Poll::Pending => {
            waits_left -= 1;
            std::task::Poll::Pending
        }
    })
    .await
}

/// Writes cancelled at each point where they wait in turn (the file store's
/// shared commit; the memory store's calls never wait): every answer is the
/// write's or the cancel's,
/// the session stays readable with one of the values written, and a write
/// after them all is kept.
async fn writes_cancelled_anywhere(store: Arc<dyn SessionStore>) {
    let app = on_store(store).provide(Gates::new()).build().unwrap();
    let router = app
        .into_router()
        .layer(axum::middleware::from_fn(cancel_at_wait));
    let server = TestServer::start(router).await;
    let mut b = server.browser();
    assert_eq!(b.get("/shop/visit").await.body, "1");

    let mut written = vec![serde_json::Value::Null];
    let mut cancelled = 0;
    for wait in 0..4u32 {
        let note = format!("n{wait}");
        let at = wait.to_string();
        let reply = within(
            "a cancelled write",
            b.send_with_headers(
                Method::PUT,
                &format!("/shop/field/note/{note}?solo=true"),
                None,
                &[("x-cancel-at-wait", at.as_str())],
            ),
        )
        .await;
        assert!(
            matches!(reply.status, 204 | 408),
            "{}: {}",
            reply.status,
            reply.body
        );
        cancelled += usize::from(reply.status == 408);
        written.push(note.into());
        let seen = peek(&mut b).await;
        assert!(written.contains(&seen["note"]), "{seen}");
        assert_eq!(seen["visits"], 1);
    }
    // Only that the probe cancelled something: the file store waits for
    // its commit in every write.
    assert!(cancelled > 0);
    assert_eq!(
        b.send(Method::PUT, "/shop/field/note/last?solo=true", None)
            .await
            .status,
        204
    );
    assert_eq!(peek(&mut b).await["note"], "last");
    assert_eq!(b.get("/shop/visit").await.body, "2");
}

#[tokio::test]
async fn writes_cancelled_anywhere_leave_a_file_session_consistent() {
    let (_dir, store) = file_store();
    writes_cancelled_anywhere(store).await;
}

// ------------------------------------------------------- layers around it

/// Compression around the app: the cookie is set once, the page compressed,
/// and `Vary` names both the cookie and the encoding.
#[tokio::test]
async fn compression_around_the_app_keeps_one_cookie_and_both_varies() {
    let store = Arc::new(MemoryStore::new());
    let app = builder(&store).build().unwrap();
    let server = TestServer::start(app.into_router().layer(CompressionLayer::new())).await;
    let mut b = server.browser();

    let gzip = [("accept-encoding", "gzip")];
    let first = b
        .send_with_headers(Method::GET, "/shop/big", None, &gzip)
        .await;
    assert_eq!(first.status, 200);
    assert_eq!(first.headers[header::CONTENT_ENCODING], "gzip");
    assert_eq!(session_cookies(&first), 1, "{:?}", first.set_cookies);
    let vary: Vec<String> = first
        .headers
        .get_all(header::VARY)
        .iter()
        .flat_map(|v| v.to_str().unwrap().split(','))
        .map(|v| v.trim().to_ascii_lowercase())
        .collect();
    assert!(vary.contains(&"cookie".to_owned()), "{vary:?}");
    assert!(vary.contains(&"accept-encoding".to_owned()), "{vary:?}");

    let second = b
        .send_with_headers(Method::GET, "/shop/big", None, &gzip)
        .await;
    assert_eq!(second.status, 200);
    assert!(second.set_cookies.is_empty(), "{:?}", second.set_cookies);
    assert_eq!(peek(&mut b).await["visits"], 2);
}

/// CORS with credentials around the app, as the README shows: the preflight
/// is answered by the CORS layer with no session and no cookie; the write
/// it allows gets its cookie and the CORS headers, once.
#[tokio::test]
async fn cors_with_credentials_around_the_app_answers_preflights_without_sessions() {
    let front = "http://localhost:5173";
    let store = Arc::new(MemoryStore::new());
    let app = builder(&store).trusted_origin(front).build().unwrap();
    let cors = CorsLayer::new()
        .allow_origin(HeaderValue::from_static(front))
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers([header::CONTENT_TYPE]);
    let server = TestServer::start(app.into_router().layer(cors)).await;
    let mut b = server.browser();

    let preflight = b
        .send_with_headers(
            Method::OPTIONS,
            "/shop/note",
            None,
            &[
                ("origin", front),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "content-type"),
                ("sec-fetch-mode", "cors"),
                ("sec-fetch-site", "same-site"),
            ],
        )
        .await;
    assert_eq!(preflight.status, 200);
    assert_eq!(preflight.headers["access-control-allow-origin"], front);
    assert_eq!(
        preflight.headers["access-control-allow-credentials"],
        "true"
    );
    assert!(
        preflight.set_cookies.is_empty(),
        "{:?}",
        preflight.set_cookies
    );
    assert_eq!(store.len(), 0);

    let from_front = [
        ("origin", front),
        ("sec-fetch-mode", "cors"),
        ("sec-fetch-site", "same-site"),
        ("content-type", "text/plain"),
    ];
    let write = b
        .send_with_headers(Method::POST, "/shop/note", None, &from_front)
        .await;
    assert_eq!(write.status, 200, "{}", write.body);
    assert_eq!(write.headers["access-control-allow-origin"], front);
    assert_eq!(write.headers["access-control-allow-credentials"], "true");
    assert_eq!(session_cookies(&write), 1, "{:?}", write.set_cookies);
    assert_eq!(store.len(), 1);

    // Another origin's write is still refused by the session layer (the
    // CORS layer names its one origin to every request; the browser keeps
    // the answer from the page).
    let other = b
        .send_with_headers(
            Method::POST,
            "/shop/note",
            None,
            &[
                ("origin", "http://evil.example"),
                ("sec-fetch-site", "cross-site"),
            ],
        )
        .await;
    assert_eq!(other.status, 403);
    assert_eq!(other.json()["error"], "cross-origin request refused");
    assert!(other.set_cookies.is_empty());
}

/// A `CorsLayer` on a router given to `merge` covers that router's routes
/// only, as the README warns: its preflights are answered, the
/// controllers' get their 405; neither makes a session.
#[tokio::test]
async fn cors_on_a_merged_router_covers_only_its_routes() {
    let front = "http://localhost:5173";
    let store = Arc::new(MemoryStore::new());
    let cors = CorsLayer::new()
        .allow_origin(HeaderValue::from_static(front))
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::PUT]);
    let merged = Router::new()
        .route("/inner/visit", put(plain_visit))
        .layer(cors);
    let app = builder(&store)
        .trusted_origin(front)
        .merge(merged)
        .build()
        .unwrap();
    let server = TestServer::start(app.into_router()).await;
    let mut b = server.browser();
    let preflight = |path: &'static str| {
        let mut b = server.browser();
        async move {
            b.send_with_headers(
                Method::OPTIONS,
                path,
                None,
                &[("origin", front), ("access-control-request-method", "PUT")],
            )
            .await
        }
    };
    let inner = preflight("/inner/visit").await;
    assert_eq!(inner.status, 200);
    assert_eq!(inner.headers["access-control-allow-origin"], front);
    assert!(inner.set_cookies.is_empty());
    let controller = preflight("/shop/note").await;
    assert_eq!(controller.status, 405);
    assert!(
        controller
            .headers
            .get("access-control-allow-origin")
            .is_none()
    );
    assert!(controller.set_cookies.is_empty());
    assert_eq!(store.len(), 0);

    let write = b
        .send_with_headers(Method::PUT, "/inner/visit", None, &[("origin", front)])
        .await;
    assert_eq!((write.status, write.body.as_str()), (200, "1"));
    assert_eq!(write.headers["access-control-allow-origin"], front);
    assert_eq!(session_cookies(&write), 1);
}

/// A body limit around the app: a body over it is refused before the app,
/// leaving no session; one under it is written with its cookie.
#[tokio::test]
async fn a_body_limit_around_the_app_refuses_before_any_session() {
    let store = Arc::new(MemoryStore::new());
    let app = builder(&store).build().unwrap();
    let server = TestServer::start(app.into_router().layer(RequestBodyLimitLayer::new(64))).await;
    let client = client_builder().build().unwrap();

    let over = client
        .post(server.url("/shop/note"))
        .body("x".repeat(65))
        .send()
        .await
        .unwrap();
    assert_eq!(over.status(), 413);
    assert!(over.headers().get(header::SET_COOKIE).is_none());
    // Without a length up front (chunked), the limit is met while the
    // handler's extractor reads the body: 413 still, nothing stored.
    let chunks = futures_util::stream::iter(
        (0..4).map(|_| Ok::<_, std::io::Error>(bytes_of(&"y".repeat(40)))),
    );
    let chunked = client
        .post(server.url("/shop/note"))
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(chunked.status(), 413);
    assert!(chunked.headers().get(header::SET_COOKIE).is_none());
    assert_eq!(store.len(), 0);

    let mut b = server.browser();
    let under = b
        .send_with_headers(
            Method::POST,
            "/shop/note",
            None,
            &[("content-type", "text/plain")],
        )
        .await;
    assert_eq!(under.status, 200);
    assert_eq!(session_cookies(&under), 1);
    assert_eq!(store.len(), 1);
}

fn bytes_of(text: &str) -> Vec<u8> {
    text.as_bytes().to_vec()
}

// --------------------------------------------------- routers beside it

/// The whole app nested under a prefix (`nest`, or `nest_service`): the
/// session layer applies to its routes there, with the cookie for the
/// whole site (`Path=/`), and a `cross_origin_exempt` path names the prefix.
#[tokio::test]
async fn the_app_nested_under_a_prefix_keeps_its_sessions() {
    for service in [false, true] {
        let store = Arc::new(MemoryStore::new());
        let app = builder(&store)
            .cross_origin_exempt("/api/shop/note")
            .build()
            .unwrap();
        let router = match service {
            false => Router::new().nest("/api", app.into_router()),
            true => Router::new().nest_service("/api", app.into_router()),
        };
        let server = TestServer::start(router).await;
        let mut b = server.browser();

        let first = b.get("/api/shop/visit").await;
        assert_eq!(first.body, "1", "nest_service={service}");
        assert!(first.cookie("id").unwrap().has("Path=/"));
        assert_eq!(b.get("/api/shop/visit").await.body, "2");
        assert_eq!(b.get("/shop/visit").await.status, 404);

        let from_elsewhere = [
            ("origin", "https://idp.example"),
            ("sec-fetch-site", "cross-site"),
        ];
        let exempt = b
            .send_with_headers(Method::POST, "/api/shop/note", None, &from_elsewhere)
            .await;
        assert_eq!(exempt.status, 200, "nest_service={service}");
        let refused = b
            .send_with_headers(Method::PUT, "/api/shop/field/note/x", None, &from_elsewhere)
            .await;
        assert_eq!(refused.status, 403, "nest_service={service}");
    }
}

/// Routes merged after `into_router()` run outside the session layer, as
/// documented: a session extractor there answers 500 `session layer
/// missing`, a route that takes no session works; the same route given to
/// `App::builder().merge(..)` has its session.
#[tokio::test]
async fn routes_merged_after_into_router_are_outside_and_builder_merged_inside() {
    let store = Arc::new(MemoryStore::new());
    let inside = Router::new().route("/inside/visit", get(plain_visit));
    let app = builder(&store).merge(inside).build().unwrap();
    let outside = Router::new()
        .route("/outside/visit", get(plain_visit))
        .route("/outside/plain", get(|| async { "plain" }));
    let server = TestServer::start(app.into_router().merge(outside)).await;
    let mut b = server.browser();

    assert_eq!(b.get("/inside/visit").await.body, "1");
    assert_eq!(b.get("/shop/visit").await.body, "2");
    let missing = b.get("/outside/visit").await;
    assert_eq!(missing.status, 500);
    assert!(
        missing.body.contains("session layer missing"),
        "{}",
        missing.body
    );
    assert!(missing.set_cookies.is_empty());
    let plain = b.get("/outside/plain").await;
    assert_eq!((plain.status, plain.body.as_str()), (200, "plain"));
    assert!(plain.set_cookies.is_empty());
    assert_eq!(peek(&mut b).await["visits"], 2);
}

/// A 404, from axum's own fallback or from an app fallback given to
/// `merge` (which runs inside the session layer and may read the session),
/// creates no session and sends no cookie.
#[tokio::test]
async fn not_found_pages_create_no_sessions() {
    let store = Arc::new(MemoryStore::new());
    let app = builder(&store).build().unwrap();
    let server = TestServer::start(app.into_router()).await;
    let mut b = server.browser();
    let default_404 = b.get("/no/such/page").await;
    assert_eq!(default_404.status, 404);
    assert!(default_404.set_cookies.is_empty());
    assert_eq!(store.len(), 0);
    drop(server);

    let store = Arc::new(MemoryStore::new());
    let fallback = Router::new().fallback(not_found_page);
    let app = builder(&store).merge(fallback).build().unwrap();
    let server = TestServer::start(app.into_router()).await;
    let mut b = server.browser();
    let page = b.get("/no/such/page").await;
    assert_eq!(page.status, 404);
    assert_eq!(page.body, "nothing here after 0 visits");
    assert!(page.set_cookies.is_empty());
    assert_eq!(store.len(), 0);

    // With a session: the fallback reads it, and writes nothing.
    assert_eq!(b.get("/shop/visit").await.body, "1");
    assert_eq!(b.get("/shop/visit").await.body, "2");
    let page = b.get("/no/such/page").await;
    assert_eq!(page.body, "nothing here after 2 visits");
    assert!(page.set_cookies.is_empty(), "{:?}", page.set_cookies);
    assert_eq!(store.len(), 1);
}

/// A fallback set on the router after `into_router()` is outside the
/// session layer like any route added then.
#[tokio::test]
async fn a_fallback_set_after_into_router_is_outside_the_session_layer() {
    let store = Arc::new(MemoryStore::new());
    let app = builder(&store).build().unwrap();
    let server = TestServer::start(app.into_router().fallback(not_found_page)).await;
    let mut b = server.browser();
    assert_eq!(b.get("/shop/visit").await.body, "1");
    let page = b.get("/no/such/page").await;
    assert_eq!(page.status, 500);
    assert!(page.body.contains("session layer missing"), "{}", page.body);
}

/// Static files beside the app (`nest_service(ServeDir)`, after
/// `into_router()` or given to `merge`) are served with no session and no
/// cookie, for a new visitor and for one with a session.
#[tokio::test]
async fn static_files_beside_the_app_touch_no_session() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.css"), "body { color: red }").unwrap();
    for merged in [false, true] {
        let store = Arc::new(MemoryStore::new());
        let files = Router::new().nest_service("/static", ServeDir::new(dir.path()));
        let router = if merged {
            builder(&store).merge(files).build().unwrap().into_router()
        } else {
            builder(&store).build().unwrap().into_router().merge(files)
        };
        let server = TestServer::start(router).await;
        let mut b = server.browser();

        let css = b.get("/static/app.css").await;
        assert_eq!(css.status, 200, "merged={merged}");
        assert_eq!(css.body, "body { color: red }");
        assert!(css.set_cookies.is_empty(), "merged={merged}");
        assert_eq!(b.get("/static/missing.css").await.status, 404);
        assert_eq!(store.len(), 0, "merged={merged}");

        assert_eq!(b.get("/shop/visit").await.body, "1");
        assert_eq!(b.get("/shop/visit").await.body, "2");
        let css = b.get("/static/app.css").await;
        assert_eq!(css.status, 200);
        assert!(css.set_cookies.is_empty(), "merged={merged}");
    }
}

// ------------------------------------------------------- HEAD and OPTIONS

/// `HEAD` of a page that only reads creates nothing. `HEAD` of a `GET`
/// route runs its handler (axum answers `HEAD` with `GET`'s handler, whose
/// headers RFC 9110 wants the same): one that writes the session writes it
/// for `HEAD` too, cookie included.
#[tokio::test]
async fn head_requests_behave_as_get_without_a_body() {
    let store = Arc::new(MemoryStore::new());
    let app = builder(&store).build().unwrap();
    let server = TestServer::start(app.into_router()).await;
    let mut b = server.browser();

    let read = b.send(Method::HEAD, "/shop/peek", None).await;
    assert_eq!(read.status, 200);
    assert!(read.body.is_empty());
    assert!(read.set_cookies.is_empty());
    let plain = b.send(Method::HEAD, "/shop/plain", None).await;
    assert_eq!(plain.status, 200);
    assert!(plain.set_cookies.is_empty());
    assert_eq!(store.len(), 0);

    let write = b.send(Method::HEAD, "/shop/visit", None).await;
    assert_eq!(write.status, 200);
    assert!(write.body.is_empty());
    assert_eq!(session_cookies(&write), 1);
    assert_eq!(peek(&mut b).await["visits"], 1);
    // With its session, a reading HEAD sends no cookie.
    let read = b.send(Method::HEAD, "/shop/peek", None).await;
    assert!(read.set_cookies.is_empty(), "{:?}", read.set_cookies);
}

/// A preflight reaching the app (no CORS layer) gets the route's 405 with
/// no session and no cookie, never a 5xx.
#[tokio::test]
async fn preflights_without_a_cors_layer_create_no_sessions() {
    let store = Arc::new(MemoryStore::new());
    let app = builder(&store).build().unwrap();
    let server = TestServer::start(app.into_router()).await;
    let mut b = server.browser();
    for path in ["/shop/note", "/shop/visit", "/no/such/page"] {
        let preflight = b
            .send_with_headers(
                Method::OPTIONS,
                path,
                None,
                &[
                    ("origin", "http://localhost:5173"),
                    ("access-control-request-method", "POST"),
                    ("sec-fetch-mode", "cors"),
                    ("sec-fetch-site", "same-site"),
                ],
            )
            .await;
        assert!(
            preflight.status == 405 || preflight.status == 404,
            "{path}: {}",
            preflight.status
        );
        assert!(preflight.set_cookies.is_empty(), "{path}");
    }
    assert_eq!(store.len(), 0);
}

// ------------------------------------------------------ graceful shutdown

/// A request in flight when graceful shutdown starts finishes, and its
/// session is persisted: the cookie it sets works on the next server.
#[tokio::test]
async fn graceful_shutdown_persists_a_request_in_flight() {
    let store = Arc::new(MemoryStore::new());
    let gates = Gates::new();
    let router = builder(&store)
        .provide(gates.clone())
        .build()
        .unwrap()
        .into_router();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (shutdown, shutting_down) = oneshot::channel::<()>();
    let served = tokio::spawn(
        axum::serve(listener, router.clone())
            .with_graceful_shutdown(async {
                let _ = shutting_down.await;
            })
            .into_future(),
    );

    let mut b = Browser::new(addr);
    assert_eq!(b.get("/shop/visit").await.body, "1");
    let jar = b.jar.clone();
    let in_flight = tokio::spawn(async move {
        let mut b = Browser::new(addr);
        b.jar = jar;
        b.send(Method::PUT, "/shop/held", None).await
    });
    within("the handler to start", gates.started.notified()).await;
    shutdown.send(()).unwrap();
    gates.release.notify_one();
    let reply = within("the request in flight", in_flight).await.unwrap();
    assert_eq!(reply.status, 204);
    within("the server to stop", served).await.unwrap().unwrap();

    let next = TestServer::start(router).await;
    let mut b = same_cookies(&b, next.addr);
    assert_eq!(
        peek(&mut b).await,
        serde_json::json!({"note": "written while shutting down", "theme": null, "visits": 1})
    );
}

// ----------------------------------------------------------------- HTTP/2

/// Over HTTP/2 (h2c, which `axum::serve` speaks with its `http2` feature):
/// one cookie set, sent back, and two requests multiplexed on one connection
/// changing different fields both kept.
#[tokio::test]
async fn http2_sessions_behave_as_over_http1() {
    let store = Arc::new(MemoryStore::new());
    let gates = Gates::new();
    let app = builder(&store).provide(gates.clone()).build().unwrap();
    let server = TestServer::start(app.into_router()).await;
    let client = client_builder().http2_prior_knowledge().build().unwrap();

    let first = client.get(server.url("/shop/visit")).send().await.unwrap();
    assert_eq!(first.version(), reqwest::Version::HTTP_2);
    let cookies: Vec<_> = first.headers().get_all(header::SET_COOKIE).iter().collect();
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let cookie = cookies[0]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(first.text().await.unwrap(), "1");
    let second = client
        .get(server.url("/shop/visit"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert!(second.headers().get(header::SET_COOKIE).is_none());
    assert_eq!(second.text().await.unwrap(), "2");

    let send = |path: &str| {
        client
            .put(server.url(path))
            .header(header::COOKIE, &cookie)
            .send()
    };
    let (note, theme) = within("both requests", async {
        tokio::join!(send("/shop/field/note/n2"), send("/shop/field/theme/t2"))
    })
    .await;
    for reply in [note.unwrap(), theme.unwrap()] {
        assert_eq!(reply.version(), reqwest::Version::HTTP_2);
        assert_eq!(reply.status(), 204);
        assert!(reply.headers().get(header::SET_COOKIE).is_none());
    }
    let peeked: serde_json::Value = client
        .get(server.url("/shop/peek"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        peeked,
        serde_json::json!({"note": "n2", "theme": "t2", "visits": 2})
    );
}

// ------------------------------------------------------------ concurrency

async fn put_both(server: &TestServer, first: &Browser, one: &str, two: &str) -> (Reply, Reply) {
    let mut a = same_cookies(first, server.addr);
    let mut b = same_cookies(first, server.addr);
    within("both requests", async {
        tokio::join!(
            a.send(Method::PUT, one, None),
            b.send(Method::PUT, two, None)
        )
    })
    .await
}

/// Two requests on one session, each changing a different field, both
/// having loaded the session before either saves: both changes are kept.
async fn different_fields_are_both_kept(store: Arc<dyn SessionStore>) {
    let gates = Gates::new();
    let app = on_store(store).provide(gates.clone()).build().unwrap();
    let server = TestServer::start(app.into_router()).await;
    let mut b = server.browser();
    assert_eq!(b.get("/shop/visit").await.body, "1");

    let (note, theme) = put_both(&server, &b, "/shop/field/note/n1", "/shop/field/theme/t1").await;
    assert_eq!((note.status, theme.status), (204, 204));
    assert!(note.set_cookies.is_empty() && theme.set_cookies.is_empty());
    assert_eq!(
        peek(&mut b).await,
        serde_json::json!({"note": "n1", "theme": "t1", "visits": 1})
    );
}

#[tokio::test]
async fn concurrent_requests_changing_different_fields_both_persist_in_memory() {
    different_fields_are_both_kept(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn concurrent_requests_changing_different_fields_both_persist_in_a_file() {
    let (_dir, store) = file_store();
    different_fields_are_both_kept(store).await;
}

/// Two requests changing the same field: the one that answers last wins,
/// whole, and the other fields are untouched.
#[tokio::test]
async fn concurrent_requests_changing_the_same_field_last_writer_wins() {
    let store = Arc::new(MemoryStore::new());
    let gates = Gates::new();
    let app = builder(&store).provide(gates.clone()).build().unwrap();
    let server = TestServer::start(app.into_router()).await;
    let mut b = server.browser();
    assert_eq!(b.get("/shop/visit").await.body, "1");

    let mut early = same_cookies(&b, server.addr);
    let mut late = same_cookies(&b, server.addr);
    let late_reply = tokio::spawn(async move {
        late.send(Method::PUT, "/shop/field/note/late?hold=true", None)
            .await
    });
    let early_reply = within(
        "the early request",
        early.send(Method::PUT, "/shop/field/note/early", None),
    )
    .await;
    assert_eq!(early_reply.status, 204);
    assert_eq!(peek(&mut b).await["note"], "early");
    gates.release.notify_one();
    let late_reply = within("the late request", late_reply).await.unwrap();
    assert_eq!(late_reply.status, 204);
    assert_eq!(
        peek(&mut b).await,
        serde_json::json!({"note": "late", "theme": null, "visits": 1})
    );
}

/// With `require_unchanged_revision`, of two requests that loaded the same
/// revision the one saving second gets 409 and writes nothing, even for
/// another field.
#[tokio::test]
async fn concurrent_compare_and_set_writes_conflict_with_409() {
    let store = Arc::new(MemoryStore::new());
    let gates = Gates::new();
    let app = builder(&store).provide(gates.clone()).build().unwrap();
    let server = TestServer::start(app.into_router()).await;
    let mut b = server.browser();
    assert_eq!(b.get("/shop/visit").await.body, "1");

    let mut early = same_cookies(&b, server.addr);
    let mut late = same_cookies(&b, server.addr);
    let late_reply = tokio::spawn(async move {
        late.send(
            Method::PUT,
            "/shop/field/theme/late?hold=true&cas=true",
            None,
        )
        .await
    });
    let early_reply = within(
        "the early request",
        early.send(Method::PUT, "/shop/field/note/early?cas=true", None),
    )
    .await;
    assert_eq!(early_reply.status, 204);
    gates.release.notify_one();
    let late_reply = within("the late request", late_reply).await.unwrap();
    assert_eq!(late_reply.status, 409, "{}", late_reply.body);
    assert!(late_reply.set_cookies.is_empty());
    assert_eq!(
        peek(&mut b).await,
        serde_json::json!({"note": "early", "theme": null, "visits": 1})
    );
}

/// Logins on the file store cancelled at each point where they wait in
/// turn (the new record, the moved marker, closing and deleting the old
/// one): the browser ends up either logged in, or with its old session as
/// it was, or with none (moved); never a 5xx, and logging in again works.
#[tokio::test]
async fn logins_cancelled_anywhere_leave_the_browser_consistent() {
    let (_dir, store) = file_store();
    let app = on_store(store).build().unwrap();
    let router = app
        .into_router()
        .layer(axum::middleware::from_fn(cancel_at_wait));
    let server = TestServer::start(router).await;
    let mut cancelled = 0;
    for wait in 0..8u32 {
        let mut b = server.browser();
        assert_eq!(b.get("/shop/visit").await.body, "1");
        assert_eq!(b.get("/shop/visit").await.body, "2");
        let at = wait.to_string();
        let login = b
            .send_with_headers(
                Method::POST,
                "/shop/login",
                None,
                &[("x-cancel-at-wait", at.as_str())],
            )
            .await;
        let who = b.get("/shop/who").await.body;
        let visits = peek(&mut b).await["visits"].clone();
        match login.status {
            204 => assert_eq!((who.as_str(), visits), ("ada", 2.into())),
            408 => {
                cancelled += 1;
                assert!(login.set_cookies.is_empty(), "wait {wait}");
                assert_eq!(who, "nobody", "wait {wait}");
                assert!(visits == 2 || visits == 0, "wait {wait}: {visits}");
                assert_eq!(b.post("/shop/login").await.status, 204);
                assert_eq!(b.get("/shop/who").await.body, "ada");
            }
            other => panic!("wait {wait}: {other} {}", login.body),
        }
    }
    assert!(cancelled > 0);
}
