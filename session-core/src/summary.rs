//! Log lines summed up: an event that can repeat on every request (a token
//! no key verifies, a store outage) is counted, and one line at most per
//! interval reports the count, so a flood of them does not flood the log.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::clock::Timestamp;

/// Counts events and says when a summary line is due: at the first event,
/// then at the first one an interval or more after the last summary. Safe
/// to share (a `static` works: [`new`](Self::new) is `const`).
#[derive(Debug)]
pub struct LogSummary {
    interval_ms: u64,
    /// Events not yet reported.
    count: AtomicU64,
    /// When the last summary was due, in ms since the epoch plus one (0:
    /// never).
    last: AtomicU64,
}

/// A summary line to log: what it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    /// Events since the last summary, this one included.
    pub count: u64,
    /// Seconds since the last summary; 0 for the first.
    pub over_secs: u64,
}

impl LogSummary {
    /// A summary at most once per `interval`.
    pub const fn new(interval: Duration) -> Self {
        Self {
            interval_ms: interval.as_millis() as u64,
            count: AtomicU64::new(0),
            last: AtomicU64::new(0),
        }
    }

    /// Counts one event at `now`; `Some` when its summary line is due. Of
    /// events racing at the same moment, one gets it. Events counted after
    /// a summary are reported with the next event an interval later.
    pub fn record(&self, now: Timestamp) -> Option<Due> {
        self.count.fetch_add(1, Relaxed);
        let now = now.as_millis().saturating_add(1);
        let last = self.last.load(Relaxed);
        if last != 0 && now.saturating_sub(last) < self.interval_ms {
            return None;
        }
        self.last
            .compare_exchange(last, now, Relaxed, Relaxed)
            .ok()?;
        let over_secs = match last {
            0 => 0,
            last => now.saturating_sub(last) / 1000,
        };
        Some(Due {
            count: self.count.swap(0, Relaxed),
            over_secs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_event_then_one_per_interval_is_due_with_the_count_between() {
        let summary = LogSummary::new(Duration::from_secs(60));
        let t0 = Timestamp::from_millis(1_000_000);
        let at = |secs: u64| t0.plus(Duration::from_secs(secs));
        assert_eq!(
            summary.record(t0),
            Some(Due {
                count: 1,
                over_secs: 0
            })
        );
        assert_eq!(summary.record(at(1)), None);
        assert_eq!(summary.record(at(59)), None);
        assert_eq!(
            summary.record(at(60)),
            Some(Due {
                count: 3,
                over_secs: 60
            })
        );
        assert_eq!(
            summary.record(at(200)),
            Some(Due {
                count: 1,
                over_secs: 140
            })
        );
    }
}
