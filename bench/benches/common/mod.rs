//! Helpers shared by the benches.
// Each bench includes this module and uses part of it.
#![allow(dead_code, unused_imports)]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use session_core::{Clock, FieldMap, Key, SessionId, SessionPatch, SessionRecord, SystemClock};

/// The load test's session: one counter field (the server's own type).
pub use session_bench::Counter;

/// A fixed signing key.
pub fn key(n: u8) -> Key {
    Key::new([n; 32]).expect("32-byte key")
}

/// A live record holding `{"count": <count>}`, expiring in an hour.
pub fn counter_record(count: u64) -> SessionRecord {
    let now = SystemClock.now();
    let mut record = SessionRecord::new(
        SessionId::generate(),
        now,
        now.plus(Duration::from_secs(3600)),
    );
    record.fields.insert("count", count.to_string());
    record
}

/// A patch setting the counter to `count`, used now.
pub fn count_patch(count: u64) -> SessionPatch {
    let mut set_fields = FieldMap::new();
    set_fields.insert("count", count.to_string());
    SessionPatch {
        set_fields,
        last_seen: SystemClock.now(),
        ..SessionPatch::default()
    }
}

/// tower-sessions' twin of [`counter_record`]: `{"count": <count>}`,
/// expiring in an hour.
pub fn ts_counter_record(count: u64) -> tower_sessions::session::Record {
    tower_sessions::session::Record {
        id: tower_sessions::session::Id::default(),
        data: [("count".to_owned(), serde_json::json!(count))].into(),
        expiry_date: tower_sessions::cookie::time::OffsetDateTime::now_utc()
            + tower_sessions::cookie::time::Duration::hours(1),
    }
}

/// Runs a future that never waits (memory store calls, a no-op store): one
/// poll, no runtime in the measurement.
pub fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the benched future waited; it must complete in one poll"),
    }
}

/// Operations slower than this count as stalls.
pub const STALL_NS: u64 = 50_000;

/// Runs `op` on `prepare(i)` for `i` in `0..n`, timing each `op` alone;
/// nanoseconds.
pub fn timed<T>(n: usize, mut prepare: impl FnMut(usize) -> T, mut op: impl FnMut(T)) -> Vec<u64> {
    (0..n)
        .map(|i| {
            let input = prepare(i);
            let start = Instant::now();
            op(input);
            u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX)
        })
        .collect()
}

/// The header of [`stall_row`]'s table.
pub fn stall_header() {
    println!("| run | p50 | p99 | p99.9 | max | stalls over 50 µs | their total µs | all µs |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
}

/// One row of percentiles (ns) and stalls of `times`.
pub fn stall_row(name: &str, mut times: Vec<u64>) {
    let stalls: Vec<u64> = times.iter().copied().filter(|&t| t > STALL_NS).collect();
    times.sort_unstable();
    let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
    println!(
        "| {name} | {} | {} | {} | {} | {} | {} | {} |",
        at(0.5),
        at(0.99),
        at(0.999),
        at(1.0),
        stalls.len(),
        stalls.iter().sum::<u64>() / 1000,
        times.iter().sum::<u64>() / 1000,
    );
}
