//! Helpers shared by the benches.
// Each bench includes this module and uses part of it.
#![allow(dead_code, unused_imports)]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use session_core::{Clock, Key, SessionId, SessionRecord, SystemClock};

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
