//! Builder errors, and the mapping of Redis client errors onto [`StoreError`].

use std::time::Duration;

use redis::{ErrorKind, RedisError};
use session_core::StoreError;

use crate::reports::Reports;

/// Why a [`RedisStoreBuilder`](crate::RedisStoreBuilder) cannot build a store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Neither a standalone URL nor cluster node URLs were given.
    #[error("no Redis URL: set `url` (standalone) or `cluster_urls` (cluster)")]
    MissingUrl,
    /// A URL does not parse, or the cluster settings are inconsistent.
    #[error("invalid Redis connection settings: {0}")]
    InvalidUrl(String),
    /// A timeout was zero.
    #[error("the {0} timeout must be greater than zero")]
    ZeroTimeout(&'static str),
    /// A local cache was asked of a Redis Cluster: its invalidations would
    /// come from every master, which the store does not track.
    #[error("the local cache needs a standalone Redis server, not a cluster")]
    LocalCacheNeedsStandalone,
    /// The key prefix's first `{` is followed at once by `}`: an empty hash
    /// tag, which makes Redis Cluster hash each key whole, so a session and
    /// its tombstone land in different slots and every delete fails.
    /// Refused in standalone mode too, so a configuration behaves the same
    /// on both.
    #[error(
        "key prefix {prefix:?} starts a hash tag with `{{}}`: Redis Cluster would hash \
         each key whole instead of on the session id, so a session's keys would not \
         share a slot; drop the `{{}}` or name a tag inside it (such as `{{app}}`)"
    )]
    EmptyHashTagInPrefix {
        /// The prefix as given.
        prefix: String,
    },
}

/// A client error as a store error: timeouts become [`StoreError::Timeout`]
/// (with `timeout`, the per-command bound that fired), everything else (refused or lost
/// connections, I/O, cluster down, server errors) [`StoreError::Unavailable`]
/// carrying the client's message.
pub(crate) fn from_redis(err: RedisError, timeout: Duration, reports: &Reports) -> StoreError {
    if err.is_timeout() {
        return StoreError::Timeout(timeout);
    }
    if matches!(
        err.kind(),
        ErrorKind::Io | ErrorKind::ClusterConnectionNotFound
    ) || err.is_connection_refusal()
        || err.is_connection_dropped()
        || err.is_cluster_error()
    {
        tracing::debug!(error = %err, "redis is unreachable");
    } else {
        reports.refused(&err);
    }
    StoreError::unavailable(err)
}

/// `err` is Redis refusing a hash command on a key of another type: damaged
/// stored data, [`StoreError::Corrupt`] where it is a session's key.
pub(crate) fn wrong_type(err: &RedisError) -> Option<StoreError> {
    (err.code() == Some("WRONGTYPE"))
        .then(|| StoreError::Corrupt("the session key holds no hash".into()))
}

/// A reply of a shape the store did not send a command for.
pub(crate) fn unexpected(what: &str) -> StoreError {
    tracing::warn!("unexpected reply from redis to {what}");
    StoreError::unavailable(format!("unexpected reply from redis to {what}"))
}

/// Whether a store error's source is its connection going away (not a
/// refusal, a timeout or a server's error reply): a read may be sent again.
pub(crate) fn connection_lost(source: &(dyn std::error::Error + 'static)) -> bool {
    // `is_connection_dropped` holds for a refused connection too.
    source.downcast_ref::<RedisError>().is_some_and(|e| {
        !e.is_connection_refusal() && (e.is_connection_dropped() || e.is_io_error())
    })
}
