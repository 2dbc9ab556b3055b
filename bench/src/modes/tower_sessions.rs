//! `ts-*`: the baseline, tower-sessions 0.14 as its documentation sets it up:
//! default expiry (a browser-session cookie), unsigned ids, cookie `id`
//! without `Secure`; its `MemoryStore`, or tower-sessions-redis-store over a
//! fred pool of 6 connections as in that crate's example.

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use tower_sessions::{MemoryStore, Session, SessionManagerLayer, SessionStore};
use tower_sessions_redis_store::RedisStore;
use tower_sessions_redis_store::fred::prelude::{ClientLike, Config, Pool};

use crate::stats;

const COUNT: &str = "count";

async fn read(session: Session) -> Result<String, StatusCode> {
    let count: u64 = session
        .get(COUNT)
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?
        .unwrap_or_default();
    Ok(count.to_string())
}

async fn write(session: Session) -> Result<String, StatusCode> {
    let count: Option<u64> = session
        .get(COUNT)
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    // After a load, the id is gone when no session was found.
    if session.id().is_none() {
        stats::new_session();
    }
    let count = count.unwrap_or_default() + 1;
    session
        .insert(COUNT, count)
        .await
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    Ok(count.to_string())
}

fn router<S: SessionStore + Clone>(store: S) -> Router {
    let layer = SessionManagerLayer::new(store)
        .with_name("id")
        .with_secure(false);
    Router::new()
        .route("/read", get(read))
        .route("/write", get(write))
        .layer(layer)
        // Added after the layer: outside it.
        .route("/stats", get(stats::handler))
}

pub(crate) fn memory_router() -> Router {
    router(MemoryStore::default())
}

pub(crate) async fn redis_router(url: &str) -> Result<Router, Box<dyn std::error::Error>> {
    let pool = Pool::new(Config::from_url(url)?, None, None, None, 6)?;
    // The connection tasks run for the life of the process.
    drop(pool.connect());
    pool.wait_for_connect().await?;
    Ok(router(RedisStore::new(pool)))
}
