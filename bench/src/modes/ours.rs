//! `ours-*`: session-axum with the default expiry policy, signed tokens
//! (verified on every request), cookie `id` without `Secure`, and one store.
//! `/read` and `/write` are plain axum routes merged into the app, so they run
//! inside the auth and session interceptors like controller routes.

use axum::Router;
use axum::routing::get;
use session_axum::{App, Key, Session, session_data};
use session_core::{CookieStore, MemoryStore};
use session_file::FileStore;
use session_redis::RedisStore;

use crate::stats;

/// The whole session: one counter field.
#[session_data]
#[derive(Debug, Clone, Default)]
pub struct Counter {
    /// How many `/write` requests this session has seen.
    pub count: u64,
}

pub(crate) enum Store {
    Memory,
    Cookie,
    File(FileStore),
    Redis(RedisStore),
}

async fn read(session: Session<Counter>) -> String {
    session.count.to_string()
}

async fn write(mut session: Session<Counter>) -> String {
    if session.is_new() {
        stats::new_session();
    }
    let count = session.count + 1;
    session.set_count(count);
    count.to_string()
}

/// Sessions `ours-redis-cached` keeps in its local cache.
pub(crate) const CACHED_SESSIONS: usize = 100_000;

/// Connects and checks that Redis answers, so a missing server fails at
/// start; `cached` sessions in the local cache (0: none).
pub(crate) async fn redis_store(
    url: &str,
    cached: usize,
) -> Result<RedisStore, Box<dyn std::error::Error>> {
    let store = RedisStore::builder().url(url).local_cache(cached).build()?;
    store.ping().await?;
    Ok(store)
}

/// A file store in `BENCH_FILE_DIR` (which the harness creates and removes):
/// a directory of the caller's, since the server is stopped by a signal and
/// removes nothing itself.
pub(crate) fn file_store() -> Result<FileStore, Box<dyn std::error::Error>> {
    let dir = std::env::var_os("BENCH_FILE_DIR")
        .ok_or("ours-file needs BENCH_FILE_DIR: the directory for the store's file")?;
    Ok(FileStore::open(
        std::path::Path::new(&dir).join("sessions.redb"),
    )?)
}

pub(crate) fn router(store: Store) -> Result<Router, Box<dyn std::error::Error>> {
    let builder = App::builder()
        // A fixed key: tokens stay valid across restarts of the bench server.
        .secret(Key::new([7; 32])?)
        .cookie_name("id")
        .secure(false)
        .use_registry(false)
        .merge(
            Router::new()
                .route("/read", get(read))
                .route("/write", get(write)),
        );
    let builder = match store {
        Store::Memory => builder.store(MemoryStore::new()),
        Store::Cookie => builder.store(CookieStore::signed()),
        Store::File(file) => builder.store(file),
        Store::Redis(redis) => builder.store(redis),
    };
    // What the login page setting costs requests that need no login.
    let builder = match std::env::var("BENCH_LOGIN_PAGE") {
        Ok(page) => builder.login_page(page),
        Err(_) => builder,
    };
    let app = builder.build()?;
    // Added after the app's interceptor layer: outside it.
    Ok(app.into_router().route("/stats", get(stats::handler)))
}
