//! [`RedisStoreBuilder`]: where Redis is, the key prefix, timeouts, clock,
//! local cache.

use std::sync::Arc;
use std::time::Duration;

use redis::cluster::ClusterClientBuilder;
use redis::io::tcp::TcpSettings;
use redis::io::tcp::socket2::TcpKeepalive;
use redis::{AsyncConnectionConfig, ProtocolVersion, PushInfo};
use session_core::clock::{SharedClock, SystemClock};

use crate::cache::LocalCache;
use crate::cluster::Cluster;
use crate::connection::{Backend, Standalone, Tracking};
use crate::error::ConfigError;
use crate::keys::Keys;
use crate::redact::display_url;
use crate::store::RedisStore;

/// Default key prefix.
pub const DEFAULT_PREFIX: &str = "session:";
/// Default bound on establishing one connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Default bound on one command's reply.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);
/// Default largest record the store accepts, in bytes as
/// [`RedisStoreBuilder::max_record_bytes`] counts them (data, flash and
/// binding).
pub const DEFAULT_MAX_RECORD_BYTES: usize = 1 << 20;
/// Default longest time a locally cached session is used after it was last
/// loaded or written (see [`RedisStoreBuilder::local_cache`]).
pub const DEFAULT_LOCAL_CACHE_MAX_AGE: Duration = Duration::from_secs(30);

/// Idle time after which TCP keepalive probes start.
const KEEPALIVE_TIME: Duration = Duration::from_secs(30);

/// Time between TCP keepalive probes, where the platform lets it be set.
#[cfg(any(target_os = "linux", target_os = "macos", target_os = "windows"))]
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);

/// `settings` with TCP keepalive on: a connection whose peer is gone
/// without a reset (a half-open connection) fails by itself while idle,
/// within minutes rather than the system default of hours, and is then
/// replaced.
fn with_keepalive(settings: TcpSettings) -> TcpSettings {
    let keepalive = TcpKeepalive::new().with_time(KEEPALIVE_TIME);
    #[cfg(any(target_os = "linux", target_os = "macos", target_os = "windows"))]
    let keepalive = keepalive.with_interval(KEEPALIVE_INTERVAL);
    settings.set_keepalive(keepalive)
}

#[derive(Clone)]
enum Topology {
    Standalone(String),
    Cluster(Vec<String>),
}

// By hand: the URLs may hold a password.
impl std::fmt::Debug for Topology {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Standalone(url) => f
                .debug_tuple("Standalone")
                .field(&display_url(url))
                .finish(),
            Self::Cluster(urls) => f
                .debug_tuple("Cluster")
                .field(&urls.iter().map(|u| display_url(u)).collect::<Vec<_>>())
                .finish(),
        }
    }
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
    local_cache: usize,
    local_cache_max_age: Duration,
    auto_pipeline: bool,
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
            local_cache: 0,
            local_cache_max_age: DEFAULT_LOCAL_CACHE_MAX_AGE,
            auto_pipeline: true,
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
    ///
    /// A prefix holding a hash tag (such as `{app}:`) pins every key to one
    /// slot. A prefix whose first `{` is followed at once by `}` (such as
    /// `{}app:` or `x{}:`) is an empty hash tag, which would split a
    /// session's keys over slots: [`build`](Self::build) refuses it with
    /// [`ConfigError::EmptyHashTagInPrefix`]. A `{` or `}` on its own is fine.
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
    /// Default: connect timeout plus response timeout (at most
    /// `Duration::MAX`). Any length is accepted; `Duration::MAX` means no
    /// bound. In a cluster a delete leaves a tombstone living a minute past
    /// this timeout, at most a day (see the [crate docs](crate), Outages).
    pub fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = Some(timeout);
        self
    }

    /// Largest record, in bytes, that `create` accepts and that a `save`
    /// setting values may leave (default [`DEFAULT_MAX_RECORD_BYTES`]): data
    /// and flash names and values, plus the binding as its stored JSON text
    /// (user id, label, meta and permissions, as `_b` holds them; a
    /// `create` measures it before sending anything). Beyond it
    /// [`StoreError::TooLarge`](session_core::StoreError::TooLarge), nothing
    /// written. Saves that only remove values, and touches, are not
    /// measured: they cannot grow a record.
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

    /// Keeps up to about `sessions` recently used sessions in this process
    /// (default 0: off; standalone Redis 6 or later only). A read-only
    /// request on a cached session then sends nothing to Redis, and a
    /// changed one sends only its write: one round trip instead of two.
    ///
    /// Copies stay coherent through Redis's own invalidation
    /// (`CLIENT TRACKING ... BCAST` over RESP3, so the user needs the
    /// `CLIENT` command; without it no connection is made, and every call
    /// fails with [`StoreError::Unavailable`](session_core::StoreError::Unavailable)
    /// naming `client|tracking`, which [`RedisStore::ping`] at start-up
    /// reports): a change made elsewhere (another app server, an
    /// admin, an expiry) drops the local copy as soon as its invalidation
    /// arrives, in order with the replies on the store's connection. The
    /// store's own saves keep the copy: their script also sets and deletes
    /// a marker key naming this store, so Redis's invalidation tells them
    /// apart (see the crate docs). The window is the delivery of an
    /// invalidation: a request served by this process in the moment between
    /// another server's write and its invalidation sees the older copy. One
    /// change the markers cannot reveal: a change made outside any cached
    /// store (by hand, an eviction, or a store without the cache on the same
    /// prefix) in the same instant as this store's own save of the same
    /// session; the copy misses it until
    /// [`local_cache_max_age`](Self::local_cache_max_age). A database swap
    /// (`SWAPDB`) replaces every key at once as a flush does but, unlike a
    /// flush, sends no invalidation: copies may be served until their
    /// maximum age too. A lost connection, or one replaced because it went
    /// silent, drops every copy. Every app server receives an invalidation
    /// for every session write, so the cache suits a few app servers, not
    /// hundreds.
    ///
    /// Records over 16 KiB are not cached. Memory grows with the number of
    /// sessions cached times their size.
    pub fn local_cache(mut self, sessions: usize) -> Self {
        self.local_cache = sessions;
        self
    }

    /// Longest time a cached copy is used after it was last loaded or
    /// written (default [`DEFAULT_LOCAL_CACHE_MAX_AGE`]): the bound on
    /// staleness if the connection stops delivering invalidations without
    /// failing, or a change went unrevealed.
    pub fn local_cache_max_age(mut self, max_age: Duration) -> Self {
        self.local_cache_max_age = max_age;
        self
    }

    /// Whether commands sent in the same turn of the runtime go to a
    /// standalone server as one pipeline (default `true`). Under load this
    /// turns a write system call per command into one per turn, which costs
    /// the app and Redis less CPU; each command then waits for the other
    /// runnable tasks of its turn before it is sent, which adds latency when
    /// the app is busy. A cluster's client keeps its own pipelining.
    pub fn auto_pipeline(mut self, on: bool) -> Self {
        self.auto_pipeline = on;
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
        if Keys::empty_hash_tag(&self.prefix) {
            return Err(ConfigError::EmptyHashTagInPrefix {
                prefix: self.prefix,
            });
        }
        let operation_timeout = self
            .operation_timeout
            .unwrap_or(self.connect_timeout.saturating_add(self.response_timeout));
        // Every command's reply is bounded by this inside the client, so a
        // call of one command on a live connection needs no timer of its own.
        let command_timeout = self.response_timeout.min(operation_timeout);
        let keys = Keys::new(&self.prefix);
        let cache = (self.local_cache > 0)
            .then(|| Arc::new(LocalCache::new(self.local_cache, self.local_cache_max_age)));
        let backend = match self.topology.ok_or(ConfigError::MissingUrl)? {
            Topology::Standalone(url) => {
                let info = redis::IntoConnectionInfo::into_connection_info(url.as_str())
                    .map_err(|e| ConfigError::InvalidUrl(e.to_string()))?;
                let tcp = with_keepalive(info.tcp_settings().clone());
                let mut client = redis::Client::open(info.set_tcp_settings(tcp))
                    .map_err(|e| ConfigError::InvalidUrl(e.to_string()))?;
                // A lost connection is replaced in the background; a failed
                // attempt is started again by the next call, so the store
                // recovers by itself.
                let mut config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(self.connect_timeout))
                    .set_response_timeout(Some(command_timeout));
                let tracking = cache.as_ref().map(|cache| Tracking {
                    cache: Arc::clone(cache),
                    prefix: keys.session_head().to_owned(),
                });
                if let Some(tracking) = &tracking {
                    // Invalidations are pushes, which need RESP3; the handler
                    // runs in the connection's reader, in order with replies.
                    let info = client.get_connection_info().clone();
                    let settings = info
                        .redis_settings()
                        .clone()
                        .set_protocol(ProtocolVersion::RESP3);
                    client = redis::Client::open(info.set_redis_settings(settings))
                        .map_err(|e| ConfigError::InvalidUrl(e.to_string()))?;
                    let (cache, keys) = (Arc::clone(&tracking.cache), keys.clone());
                    config = config.set_push_sender(move |push: PushInfo| {
                        cache.on_push(&keys, &push);
                        Ok::<(), std::convert::Infallible>(())
                    });
                }
                Backend::Standalone(Standalone::new(
                    client,
                    config,
                    (self.connect_timeout, command_timeout),
                    tracking,
                    self.auto_pipeline,
                ))
            }
            Topology::Cluster(urls) => {
                if urls.is_empty() {
                    return Err(ConfigError::MissingUrl);
                }
                if cache.is_some() {
                    return Err(ConfigError::LocalCacheNeedsStandalone);
                }
                let client = ClusterClientBuilder::new(urls.iter().map(String::as_str))
                    .connection_timeout(self.connect_timeout)
                    .response_timeout(command_timeout)
                    .overall_response_timeout(None)
                    // Retries follow redirects and fail-overs, and also send
                    // a command again after a late reply, when it may have
                    // run: the writing scripts take a write id for that.
                    .retries(3)
                    .min_retry_wait(20)
                    .max_retry_wait(500)
                    .tcp_settings(with_keepalive(TcpSettings::default()))
                    .build()
                    .map_err(|e| ConfigError::InvalidUrl(e.to_string()))?;
                Backend::Cluster(Cluster::new(client, command_timeout))
            }
        };
        Ok(RedisStore::from_parts(
            backend,
            keys,
            cache,
            &self.prefix,
            self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
            operation_timeout,
            command_timeout,
            self.max_record_bytes,
        ))
    }
}
