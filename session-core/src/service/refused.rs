//! Refused tokens, summed up for operators: each refusal is a `debug` line,
//! and tokens that no key verifies are also counted into one `warn` line
//! at most a minute, since many at once mean users being logged out.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::clock::Timestamp;

/// How often at most the summary is logged.
const INTERVAL_MS: u64 = 60_000;

/// The count of tokens no key verified since the last summary.
#[derive(Debug, Default)]
pub(crate) struct RefusedTokens {
    /// Refusals not yet reported.
    count: AtomicU64,
    /// When the last summary was logged, in ms since the epoch plus one
    /// (0: never).
    last: AtomicU64,
}

impl RefusedTokens {
    /// Counts a request whose tokens no key verified, and logs the summary
    /// when the last one is a minute old (or there was none). Requests
    /// counted after a summary are reported with the next refusal a minute
    /// or more later.
    pub(crate) fn bad_signature(&self, now: Timestamp) {
        self.count.fetch_add(1, Relaxed);
        let now = now.as_millis().saturating_add(1);
        let last = self.last.load(Relaxed);
        if last != 0 && now.saturating_sub(last) < INTERVAL_MS {
            return;
        }
        // One request of those racing here reports.
        if self
            .last
            .compare_exchange(last, now, Relaxed, Relaxed)
            .is_err()
        {
            return;
        }
        let refused = self.count.swap(0, Relaxed);
        // Since the last summary; the first covers only its own request.
        let over_secs = match last {
            0 => 0,
            last => now.saturating_sub(last) / 1000,
        };
        tracing::warn!(
            refused,
            over_secs,
            "requests whose session tokens no signing key verifies were refused since the last report: tampered, or signed by a key this instance does not hold (a new key put first before every instance had it, instances with different keys); their users are logged out"
        );
    }
}
