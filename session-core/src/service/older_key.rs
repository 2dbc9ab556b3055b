//! Sessions still signed by an older key, summed up for operators: one
//! `info` line at most a minute counts them, so an operator who put a new
//! key first sees when the old one is no longer in use and can be retired.

use std::time::Duration;

use crate::clock::Timestamp;
use crate::summary::LogSummary;

/// How often at most the summary is logged.
const INTERVAL: Duration = Duration::from_secs(60);

/// The count of live sessions loaded through a token an older key signed.
#[derive(Debug)]
pub(crate) struct OlderKeyTokens(LogSummary);

impl Default for OlderKeyTokens {
    fn default() -> Self {
        Self(LogSummary::new(INTERVAL))
    }
}

impl OlderKeyTokens {
    /// Counts a live session whose token a key other than the first
    /// verified, and logs the summary when it is due.
    pub(crate) fn loaded(&self, now: Timestamp) {
        let Some(due) = self.0.record(now) else {
            return;
        };
        tracing::info!(
            sessions = due.count,
            over_secs = due.over_secs,
            "live sessions came with tokens an older signing key signed since the last report (a cookie is signed again with the first key as it is answered); an older key can be retired once these reports stop"
        );
    }
}
