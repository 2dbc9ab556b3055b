//! A bound server with routes that write, read, flash, log in and out,
//! rotate and revoke, on the memory or the file store; browsers that send
//! many requests at once and apply `Set-Cookie` headers in the order the
//! responses arrive, as a browser does.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::Query;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use reqwest::header::{COOKIE, SET_COOKIE};
use serde::Deserialize;
use session_axum::{App, Auth, Binding, Principal, RequestSession};
use session_core::{SaveOutcome, SessionId, SessionPatch, SessionService};
use session_tests::hooked::{After, Hooked};
use session_tests::http::{SetCookie, TestServer};
use std::sync::Mutex;

use crate::support::{Backing, Kind, backing, key, policy};

#[derive(Deserialize)]
struct Name {
    f: String,
}

#[derive(Deserialize)]
struct User {
    user: String,
}

/// Sets field `f` (to `1`).
async fn set(Extension(s): Extension<RequestSession>, Query(q): Query<Name>) -> StatusCode {
    // The handler's own work.
    tokio::task::yield_now().await;
    s.cell().lock().set_field(&q.f, "1");
    StatusCode::NO_CONTENT
}

/// The fields the session holds.
async fn fields(Extension(s): Extension<RequestSession>) -> Json<BTreeMap<String, String>> {
    let fields = s.cell().lock().fields();
    Json(
        fields
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
    )
}

async fn flash_set(Extension(s): Extension<RequestSession>) -> StatusCode {
    s.cell().lock().set_flash("notice", "\"hello\"");
    StatusCode::NO_CONTENT
}

/// Takes the flash: `"hello"` or `null`.
async fn flash_take(Extension(s): Extension<RequestSession>) -> Json<Option<String>> {
    let taken = s.cell().lock().take_flash("notice");
    tokio::task::yield_now().await;
    Json(taken.map(String::from))
}

async fn login(auth: Auth, Query(q): Query<User>) -> StatusCode {
    auth.login(Binding::user(q.user));
    StatusCode::NO_CONTENT
}

async fn logout(auth: Auth) -> Result<StatusCode, session_axum::SessionRejection> {
    auth.logout().await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn me(principal: Principal) -> String {
    principal.user_id
}

/// A password change, say: the session moves to a new id, keeping its login.
async fn rotate(Extension(s): Extension<RequestSession>, _: Principal) -> StatusCode {
    tokio::task::yield_now().await;
    s.cell().lock().rotate();
    StatusCode::NO_CONTENT
}

/// An admin revoking every session of a user.
async fn revoke_all(auth: Auth, Query(q): Query<User>) -> Json<usize> {
    Json(auth.service().revoke_all(&q.user, None).await.unwrap())
}

/// A counter incremented by compare-and-set.
async fn cas(Extension(s): Extension<RequestSession>) -> StatusCode {
    let mut state = s.cell().lock();
    state.require_unchanged_revision();
    let n: u64 = state.field("n").map_or(0, |v| v.parse().unwrap());
    state.set_field("n", (n + 1).to_string());
    StatusCode::NO_CONTENT
}

/// Notes the fields every confirmed save wrote (outcome `Saved`), by
/// session id.
#[derive(Debug, Clone, Default)]
pub struct Journal {
    saved: Arc<Mutex<BTreeMap<SessionId, Vec<String>>>>,
}

impl Journal {
    /// The fields saves confirmed on `id`.
    pub fn saved(&self, id: &SessionId) -> Vec<String> {
        self.saved
            .lock()
            .unwrap()
            .get(id)
            .cloned()
            .unwrap_or_default()
    }
}

#[session_axum::async_trait]
impl After for Journal {
    async fn saved(&self, id: &SessionId, patch: &SessionPatch, outcome: &SaveOutcome) {
        if *outcome == SaveOutcome::Saved {
            let fields = patch.set_fields.iter().map(|(k, _)| k.to_owned());
            self.saved
                .lock()
                .unwrap()
                .entry(*id)
                .or_default()
                .extend(fields);
        }
    }
}

pub struct Web {
    pub server: TestServer,
    pub service: SessionService,
    pub journal: Journal,
    _backing: Backing,
}

pub async fn start(kind: Kind) -> Web {
    let backing = backing(kind);
    let journal = Journal::default();
    let routes = Router::new()
        .route("/set", get(set))
        .route("/fields", get(fields))
        .route("/flash-set", get(flash_set))
        .route("/flash-take", get(flash_take))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/me", get(me))
        .route("/rotate", post(rotate))
        .route("/revoke-all", post(revoke_all))
        .route("/cas", get(cas));
    let app = App::builder()
        .use_registry(false)
        .store(Hooked::new(backing.store.clone(), journal.clone()))
        .secret(key())
        .secure(false)
        .cookie_name("sid")
        .expiry(policy())
        .merge(routes)
        .build()
        .expect("app builds");
    let service = app.service().clone();
    let server = TestServer::start(app.into_router()).await;
    Web {
        server,
        service,
        journal,
        _backing: backing,
    }
}

/// What one response did to the jar.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub path: String,
    pub status: u16,
    pub set: Option<String>,
    pub body: String,
}

/// A browser whose requests may overlap: each sends the cookies the jar
/// holds when it leaves, and each response's `Set-Cookie` is applied when
/// it arrives (`Max-Age=0` removes), in arrival order.
#[derive(Clone)]
pub struct Browser {
    base: String,
    client: reqwest::Client,
    pub jar: Arc<Mutex<BTreeMap<String, String>>>,
    pub arrivals: Arc<Mutex<Vec<Arrival>>>,
}

impl Browser {
    pub fn new(web: &Web) -> Self {
        Self {
            base: web.server.url(""),
            client: session_tests::http::client_builder()
                .redirect(reqwest::redirect::Policy::none())
                .pool_max_idle_per_host(64)
                .build()
                .expect("client"),
            jar: Default::default(),
            arrivals: Default::default(),
        }
    }

    pub fn sid(&self) -> Option<String> {
        self.jar.lock().unwrap().get("sid").cloned()
    }

    pub async fn send(&self, method: reqwest::Method, path: &str) -> Arrival {
        let cookie = {
            let jar = self.jar.lock().unwrap();
            jar.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        };
        let mut request = self
            .client
            .request(method, format!("{}{}", self.base, path));
        if !cookie.is_empty() {
            request = request.header(COOKIE, cookie);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let set_cookies: Vec<SetCookie> = response
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(SetCookie::parse)
            .collect();
        // Applied as the headers arrive, before the body is read.
        let mut set = None;
        {
            let mut jar = self.jar.lock().unwrap();
            for c in &set_cookies {
                if c.max_age == Some(0) || c.value.is_empty() {
                    jar.remove(&c.name);
                    set = Some(String::new());
                } else {
                    jar.insert(c.name.clone(), c.value.clone());
                    set = Some(c.value.clone());
                }
            }
        }
        let body = response.text().await.expect("body");
        let arrival = Arrival {
            path: path.to_owned(),
            status,
            set,
            body,
        };
        self.arrivals.lock().unwrap().push(arrival.clone());
        arrival
    }

    pub async fn get(&self, path: &str) -> Arrival {
        self.send(reqwest::Method::GET, path).await
    }

    pub async fn post(&self, path: &str) -> Arrival {
        self.send(reqwest::Method::POST, path).await
    }
}
