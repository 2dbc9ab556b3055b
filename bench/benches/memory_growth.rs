//! How long single session creations stall while a memory store grows: our
//! `MemoryStore` against tower-sessions' `MemoryStore`, each create timed
//! alone. A map that outgrows its table moves it to a new one, faulting in
//! fresh pages, while the request that caused it (and, in a server, every
//! request queued behind it) waits: with 16 shards, stalls of over half a
//! millisecond, which made the tail of the load harness's new-session p99.
//!
//! `cargo bench -p session-bench --bench memory_growth` (not a criterion
//! bench: it prints a report). `GROWTH_SESSIONS=<n>` sets how many sessions
//! each store gets (default 400,000).

mod common;

use std::time::Instant;

use session_core::{MemoryStore, SessionStore};
use tower_sessions::SessionStore as _;

use common::{counter_record, ready, ts_counter_record};

const DEFAULT_SESSIONS: usize = 400_000;

/// Creations slower than this count as stalls.
const STALL_NS: u64 = 50_000;

fn main() {
    let sessions = std::env::var("GROWTH_SESSIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_SESSIONS);
    println!("{sessions} creations per store, each timed alone; ns");
    println!();
    println!("| store | p50 | p99 | p99.9 | max | stalls over 50 µs | their total µs |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");

    let ours = MemoryStore::new();
    let times = timed(sessions, |i| {
        let record = counter_record(i as u64);
        let start = Instant::now();
        ready(ours.create(&record)).expect("create");
        start.elapsed()
    });
    report("ours", times);

    let theirs = tower_sessions::MemoryStore::default();
    let times = timed(sessions, |i| {
        let mut record = ts_counter_record(i as u64);
        let start = Instant::now();
        ready(theirs.create(&mut record)).expect("create");
        start.elapsed()
    });
    report("tower-sessions", times);
}

fn timed(n: usize, mut create: impl FnMut(usize) -> std::time::Duration) -> Vec<u64> {
    (0..n)
        .map(|i| u64::try_from(create(i).as_nanos()).unwrap_or(u64::MAX))
        .collect()
}

fn report(name: &str, mut times: Vec<u64>) {
    let stalls: Vec<u64> = times.iter().copied().filter(|&t| t > STALL_NS).collect();
    times.sort_unstable();
    let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
    println!(
        "| {name} | {} | {} | {} | {} | {} | {} |",
        at(0.5),
        at(0.99),
        at(0.999),
        at(1.0),
        stalls.len(),
        stalls.iter().sum::<u64>() / 1000,
    );
}
