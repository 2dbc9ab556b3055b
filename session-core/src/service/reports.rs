//! Token events summed up for operators: each can happen on every request,
//! so each kind is counted into one line at most a minute.
//! - Tokens no key verifies (`warn`): many at once mean users being logged
//!   out. Each refusal is also a `debug` line.
//! - Live sessions signed by an older key (`info`): once these stop, an
//!   operator who put a new key first can retire the old one.

use std::time::Duration;

use crate::clock::Timestamp;
use crate::summary::LogSummary;

/// How often at most each summary is logged.
const INTERVAL: Duration = Duration::from_secs(60);

/// The counts since each summary.
#[derive(Debug)]
pub(crate) struct TokenReports {
    refused: LogSummary,
    older_key: LogSummary,
}

impl Default for TokenReports {
    fn default() -> Self {
        Self {
            refused: LogSummary::new(INTERVAL),
            older_key: LogSummary::new(INTERVAL),
        }
    }
}

impl TokenReports {
    /// Counts a request whose tokens no key verified, and logs the summary
    /// when it is due. Requests counted after a summary are reported with
    /// the next refusal a minute or more later.
    pub(crate) fn bad_signature(&self, now: Timestamp) {
        let Some(due) = self.refused.record(now) else {
            return;
        };
        tracing::warn!(
            refused = due.count,
            over_secs = due.over_secs,
            "requests whose session tokens no signing key verifies were refused since the last report: tampered, or signed by a key this instance does not hold (a new key put first before every instance had it, instances with different keys); their users are logged out"
        );
    }

    /// Counts a live session whose token a key other than the first
    /// verified, and logs the summary when it is due.
    pub(crate) fn older_key(&self, now: Timestamp) {
        let Some(due) = self.older_key.record(now) else {
            return;
        };
        tracing::info!(
            sessions = due.count,
            over_secs = due.over_secs,
            "live sessions came with tokens an older signing key signed since the last report (a cookie is signed again with the first key as it is answered); an older key can be retired once these reports stop"
        );
    }
}
