//! Call failures summed up for operators. A server that refuses writes (out
//! of memory, read-only) or stops answering fails every call: each is a
//! `debug` line (`redis store call failed`, `redis store call timed out`),
//! and one `warn` line a minute at most counts them, per store.

use std::time::Duration;

use session_core::clock::{Clock as _, SystemClock};
use session_core::summary::LogSummary;

/// How often at most each summary is logged.
const INTERVAL: Duration = Duration::from_secs(60);

/// The counts since each summary.
#[derive(Debug)]
pub(crate) struct Reports {
    refused: LogSummary,
    timed_out: LogSummary,
}

impl Default for Reports {
    fn default() -> Self {
        Self {
            refused: LogSummary::new(INTERVAL),
            timed_out: LogSummary::new(INTERVAL),
        }
    }
}

impl Reports {
    /// Counts a command Redis answered with an error (not a lost
    /// connection, which the connection reports once).
    pub(crate) fn refused(&self, error: &redis::RedisError) {
        if let Some(due) = self.refused.record(SystemClock.now()) {
            tracing::warn!(
                failed = due.count,
                over_secs = due.over_secs,
                %error,
                "redis commands failed since the last report (the error is the latest's; each call is logged at debug)"
            );
        }
    }

    /// Counts a store call that ran out of time.
    pub(crate) fn timed_out(&self, operation: &'static str, timeout: Duration) {
        if let Some(due) = self.timed_out.record(SystemClock.now()) {
            tracing::warn!(
                timed_out = due.count,
                over_secs = due.over_secs,
                operation,
                ?timeout,
                "redis store calls timed out since the last report (the operation is the latest's; each call is logged at debug)"
            );
        }
    }
}
