//! How long single session creations stall while a memory store grows: our
//! `MemoryStore` against tower-sessions' `MemoryStore`, each create timed
//! alone. A map that outgrows its table moves it to a new one, faulting in
//! fresh pages, while the request that caused it (and, in a server, every
//! request queued behind it) waits: with 16 shards, stalls of over half a
//! millisecond, part of the tail of the load harness's new-session p99.
//!
//! `cargo bench -p session-bench --bench memory_growth` (not a criterion
//! bench: it prints a report). `GROWTH_SESSIONS=<n>` sets how many sessions
//! each store gets (default 400,000).

mod common;

use session_core::{MemoryStore, SessionStore};
use tower_sessions::SessionStore as _;

use common::{counter_record, ready, stall_header, stall_row, timed, ts_counter_record};

const DEFAULT_SESSIONS: usize = 400_000;

fn main() {
    let sessions = std::env::var("GROWTH_SESSIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_SESSIONS);
    println!("{sessions} creations per store, each timed alone; ns");
    println!();
    stall_header();

    let ours = MemoryStore::new();
    let times = timed(
        sessions,
        |i| counter_record(i as u64),
        |record| ready(ours.create(&record)).expect("create"),
    );
    stall_row("ours", times);

    let theirs = tower_sessions::MemoryStore::default();
    let times = timed(
        sessions,
        |i| ts_counter_record(i as u64),
        |mut record| ready(theirs.create(&mut record)).expect("create"),
    );
    stall_row("tower-sessions", times);
}
