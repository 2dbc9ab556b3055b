//! `GET /stats`: how many `/write` requests found no session.

use std::sync::atomic::{AtomicU64, Ordering};

static NEW_SESSIONS: AtomicU64 = AtomicU64::new(0);

/// Counts one `/write` request that found no session (and so created one).
pub(crate) fn new_session() {
    NEW_SESSIONS.fetch_add(1, Ordering::Relaxed);
}

/// The `/stats` handler, mounted outside every session layer.
pub(crate) async fn handler() -> String {
    format!("new_sessions={}\n", NEW_SESSIONS.load(Ordering::Relaxed))
}
