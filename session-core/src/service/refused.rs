//! Refused tokens, summed up for operators: each refusal is a `debug` line,
//! and tokens that no key verifies are also counted into one `warn` line
//! at most a minute, since many at once mean users being logged out.

use std::time::Duration;

use crate::clock::Timestamp;
use crate::summary::LogSummary;

/// How often at most the summary is logged.
const INTERVAL: Duration = Duration::from_secs(60);

/// The count of tokens no key verified since the last summary.
#[derive(Debug)]
pub(crate) struct RefusedTokens(LogSummary);

impl Default for RefusedTokens {
    fn default() -> Self {
        Self(LogSummary::new(INTERVAL))
    }
}

impl RefusedTokens {
    /// Counts a request whose tokens no key verified, and logs the summary
    /// when the last one is a minute old (or there was none). Requests
    /// counted after a summary are reported with the next refusal a minute
    /// or more later.
    pub(crate) fn bad_signature(&self, now: Timestamp) {
        let Some(due) = self.0.record(now) else {
            return;
        };
        tracing::warn!(
            refused = due.count,
            over_secs = due.over_secs,
            "requests whose session tokens no signing key verifies were refused since the last report: tampered, or signed by a key this instance does not hold (a new key put first before every instance had it, instances with different keys); their users are logged out"
        );
    }
}
