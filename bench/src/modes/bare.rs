//! `bare`: axum with no session layer, the floor every mode is compared with.
//! The handlers do the same small work as the session modes' handlers (read or
//! bump a counter, format it), minus the session.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderMap, header};
use axum::routing::get;

use crate::stats;

static COUNTER: AtomicU64 = AtomicU64::new(0);

async fn read() -> String {
    COUNTER.load(Ordering::Relaxed).to_string()
}

async fn write(headers: HeaderMap) -> String {
    if !headers.contains_key(header::COOKIE) {
        stats::new_session();
    }
    (COUNTER.fetch_add(1, Ordering::Relaxed) + 1).to_string()
}

pub(crate) fn router() -> Router {
    Router::new()
        .route("/read", get(read))
        .route("/write", get(write))
        .route("/stats", get(stats::handler))
}

/// `bare-spin`: `bare` whose `/read` and `/write` handlers first busy-wait
/// for `spin`: a known amount of added CPU per request, which calibrates what
/// the harness's "+CPU vs bare" reports for it.
pub(crate) fn spin_router(spin: Duration) -> Router {
    Router::new()
        .route(
            "/read",
            get(move || async move {
                busy_wait(spin);
                read().await
            }),
        )
        .route(
            "/write",
            get(move |headers: HeaderMap| async move {
                busy_wait(spin);
                write(headers).await
            }),
        )
        .route("/stats", get(stats::handler))
}

fn busy_wait(spin: Duration) {
    let start = Instant::now();
    while start.elapsed() < spin {
        std::hint::spin_loop();
    }
}
