//! [`RedisStoreBuilder`]: where Redis is, the key prefix, timeouts, clock.

use std::sync::Arc;
use std::time::Duration;

use redis::AsyncConnectionConfig;
use redis::cluster::ClusterClientBuilder;
use session_core::clock::{SharedClock, SystemClock};
use tokio::sync::OnceCell;

use crate::connection::{Backend, Standalone};
use crate::error::ConfigError;
use crate::store::RedisStore;

/// Default key prefix.
pub const DEFAULT_PREFIX: &str = "session:";
/// Default bound on establishing one connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Default bound on one command's reply.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);
/// Default largest record (data plus flash, in bytes) the store accepts.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 1 << 20;

#[derive(Debug, Clone)]
enum Topology {
    Standalone(String),
    Cluster(Vec<String>),
}

/// Configures a [`RedisStore`].
///
/// ```
/// use std::time::Duration;
/// use session_redis::RedisStore;
///
/// let store = RedisStore::builder()
///     .url("redis://127.0.0.1:6379/0")
///     .key_prefix("myapp:session:")
///     .connect_timeout(Duration::from_millis(500))
///     .response_timeout(Duration::from_millis(500))
///     .build()?;
/// # Ok::<(), session_redis::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct RedisStoreBuilder {
    topology: Option<Topology>,
    prefix: String,
    connect_timeout: Duration,
    response_timeout: Duration,
    operation_timeout: Option<Duration>,
    max_record_bytes: usize,
    clock: Option<SharedClock>,
}

impl Default for RedisStoreBuilder {
    fn default() -> Self {
        Self {
            topology: None,
            prefix: DEFAULT_PREFIX.to_owned(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            response_timeout: DEFAULT_RESPONSE_TIMEOUT,
            operation_timeout: None,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            clock: None,
        }
    }
}

impl RedisStoreBuilder {
    /// A builder with the defaults (no URL yet).
    pub fn new() -> Self {
        Self::default()
    }

    /// A standalone server, such as `redis://127.0.0.1:6379/0` or
    /// `rediss://user:password@host:6380` (TLS needs a TLS feature of the
    /// `redis` crate).
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.topology = Some(Topology::Standalone(url.into()));
        self
    }

    /// A Redis Cluster, given some of its nodes (the client discovers the
    /// rest); every node URL must carry the same credentials.
    pub fn cluster_urls<I, S>(mut self, urls: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.topology = Some(Topology::Cluster(
            urls.into_iter().map(Into::into).collect(),
        ));
        self
    }

    /// The prefix of every key the store writes (default [`DEFAULT_PREFIX`]),
    /// so several apps or environments can share one Redis.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Bound on establishing one connection (default [`DEFAULT_CONNECT_TIMEOUT`]).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Bound on one command's reply (default [`DEFAULT_RESPONSE_TIMEOUT`]);
    /// a shorter operation timeout bounds each reply instead.
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// Bound on one whole store call, reconnects included; past it the call
    /// fails with [`StoreError::Timeout`](session_core::StoreError::Timeout).
    /// Default: connect timeout plus response timeout.
    pub fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = Some(timeout);
        self
    }

    /// Largest record, data plus flash in bytes, that `create` accepts, and
    /// largest set of values one `save` writes (default
    /// [`DEFAULT_MAX_RECORD_BYTES`]); beyond it
    /// [`StoreError::TooLarge`](session_core::StoreError::TooLarge).
    pub fn max_record_bytes(mut self, limit: usize) -> Self {
        self.max_record_bytes = limit;
        self
    }

    /// The clock of expiry decisions (default: the system clock). Share it
    /// with the session service so both agree.
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Builds the store. No connection is made yet: the first call connects,
    /// so an app can start while Redis is down.
    pub fn build(self) -> Result<RedisStore, ConfigError> {
        for (name, timeout) in [
            ("connect", self.connect_timeout),
            ("response", self.response_timeout),
            ("operation", self.operation_timeout.unwrap_or(Duration::MAX)),
        ] {
            if timeout.is_zero() {
                return Err(ConfigError::ZeroTimeout(name));
            }
        }
        let operation_timeout = self
            .operation_timeout
            .unwrap_or(self.connect_timeout.saturating_add(self.response_timeout));
        // Every command's reply is bounded by this inside the client, so a
        // call of one command on a live connection needs no timer of its own.
        let command_timeout = self.response_timeout.min(operation_timeout);
        let backend = match self.topology.ok_or(ConfigError::MissingUrl)? {
            Topology::Standalone(url) => {
                let client = redis::Client::open(url.as_str())
                    .map_err(|e| ConfigError::InvalidUrl(e.to_string()))?;
                // A lost connection is replaced in the background; a failed
                // attempt is started again by the next call, so the store
                // recovers by itself.
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(self.connect_timeout))
                    .set_response_timeout(Some(command_timeout));
                Backend::Standalone(Standalone::new(client, config))
            }
            Topology::Cluster(urls) => {
                if urls.is_empty() {
                    return Err(ConfigError::MissingUrl);
                }
                let client = ClusterClientBuilder::new(urls.iter().map(String::as_str))
                    .connection_timeout(self.connect_timeout)
                    .response_timeout(command_timeout)
                    .overall_response_timeout(None)
                    .retries(3)
                    .min_retry_wait(20)
                    .max_retry_wait(500)
                    .build()
                    .map_err(|e| ConfigError::InvalidUrl(e.to_string()))?;
                Backend::Cluster {
                    client,
                    connection: OnceCell::new(),
                }
            }
        };
        Ok(RedisStore::from_parts(
            backend,
            &self.prefix,
            self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
            operation_timeout,
            command_timeout,
            self.max_record_bytes,
        ))
    }
}
