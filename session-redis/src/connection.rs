//! Connections: for a standalone server one multiplexed connection
//! ([`MultiplexedConnection`]) shared by every call and replaced in the
//! background when it drops; for a cluster a [`ClusterConnection`] (per-node
//! connections, slot routing, redirects, reconnects). Both are made on first
//! use, so a store can be built while Redis is down; a failed connection
//! attempt is started again by the next call. With a local cache, each new
//! standalone connection turns on invalidation tracking before it is used.
//! Commands on the standalone connection are pipelined automatically unless
//! turned off: those sent in the same turn of the runtime go out in one write
//! ([`batch`](crate::batch)).

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use futures_util::FutureExt as _;
use futures_util::future::{BoxFuture, Shared};
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{AsyncConnectionConfig, Cmd, RedisError, RedisResult, Value};
use tokio::sync::OnceCell;

use crate::batch::Batcher;
use crate::cache::LocalCache;

/// Where the store's data lives.
pub(crate) enum Backend {
    Standalone(Standalone),
    Cluster {
        client: ClusterClient,
        connection: OnceCell<ClusterConnection>,
    },
}

impl fmt::Debug for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Standalone(standalone) => f
                .debug_struct("Standalone")
                .field("connected", &standalone.is_up())
                .finish_non_exhaustive(),
            Self::Cluster { connection, .. } => f
                .debug_struct("Cluster")
                .field("connected", &connection.initialized())
                .finish_non_exhaustive(),
        }
    }
}

impl Backend {
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster { .. })
    }

    /// The standalone connection if it is up, without waiting (a lock, a
    /// handle clone): the hot path.
    pub(crate) fn ready(&self) -> Option<Conn<'_>> {
        match self {
            Self::Standalone(standalone) => standalone.ready(),
            Self::Cluster { .. } => None,
        }
    }

    /// A connection handle, connecting first if needed (cheap to clone;
    /// concurrent commands share the underlying multiplexed connections).
    pub(crate) async fn connection(&self) -> RedisResult<Conn<'_>> {
        match self {
            Self::Standalone(standalone) => standalone.connection().await,
            Self::Cluster { client, connection } => {
                let connection = connection
                    .get_or_try_init(|| client.get_async_connection())
                    .await?;
                Ok(Conn::Cluster(connection.clone()))
            }
        }
    }
}

type Attempt = Shared<BoxFuture<'static, RedisResult<MultiplexedConnection>>>;

/// How long after a failed connection attempt calls fail at once with its
/// error instead of starting another: during an outage, at most one attempt
/// per pause, and no call waits for one.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// The standalone server's connection, shared by every call.
pub(crate) struct Standalone {
    client: redis::Client,
    config: AsyncConnectionConfig,
    link: Arc<Mutex<Link>>,
    tracking: Option<Tracking>,
    /// Gathers the commands of one turn of the runtime into one write;
    /// `None` when automatic pipelining is off.
    batcher: Option<Arc<Batcher>>,
}

/// Server-assisted invalidation for the local cache (see
/// [`cache`](crate::cache)).
#[derive(Clone)]
pub(crate) struct Tracking {
    pub(crate) cache: Arc<LocalCache>,
    /// What every session key starts with: the tracked prefix.
    pub(crate) prefix: String,
}

impl Tracking {
    /// `CLIENT TRACKING ON BCAST PREFIX <prefix>`: every change to a session
    /// key arrives as an invalidation on this connection (own writes too:
    /// see [`cache`](crate::cache) for why not `NOLOOP`).
    fn command(&self) -> Cmd {
        let mut cmd = redis::cmd("CLIENT");
        cmd.arg("TRACKING")
            .arg("ON")
            .arg("BCAST")
            .arg("PREFIX")
            .arg(&self.prefix);
        cmd
    }
}

/// The current connection, or the attempt to make one. `generation` counts
/// attempts, so news about an older connection never replaces a newer one.
struct Link {
    generation: u64,
    state: State,
}

enum State {
    /// No connection: the next call starts an attempt, unless the last one
    /// failed less than [`RETRY_PAUSE`] ago (then calls fail with its error).
    Down(Option<(Instant, RedisError)>),
    /// An attempt under way, awaited by the calls that need it.
    Connecting(Attempt),
    Up(MultiplexedConnection),
}

fn lock(link: &Mutex<Link>) -> MutexGuard<'_, Link> {
    // The lock is never held across anything that can panic; a poisoned
    // lock still holds a consistent link.
    link.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Standalone {
    /// `config` carries the connect timeout (the whole handshake) and the
    /// response timeout (every command's reply); with `tracking`, it also
    /// carries the push handler of the cache, and the client speaks RESP3.
    pub(crate) fn new(
        client: redis::Client,
        config: AsyncConnectionConfig,
        tracking: Option<Tracking>,
        auto_pipeline: bool,
    ) -> Self {
        Self {
            client,
            config,
            link: Arc::new(Mutex::new(Link {
                generation: 0,
                state: State::Down(None),
            })),
            tracking,
            batcher: auto_pipeline.then(Arc::default),
        }
    }

    fn is_up(&self) -> bool {
        matches!(lock(&self.link).state, State::Up(_))
    }

    /// A handle on `conn`, the connection of attempt `generation`.
    fn handle(&self, conn: MultiplexedConnection, generation: u64) -> Conn<'_> {
        Conn::Single {
            conn,
            generation,
            owner: self,
        }
    }

    fn ready(&self) -> Option<Conn<'_>> {
        let link = lock(&self.link);
        match &link.state {
            State::Up(conn) => Some(self.handle(conn.clone(), link.generation)),
            State::Down(_) | State::Connecting(_) => None,
        }
    }

    async fn connection(&self) -> RedisResult<Conn<'_>> {
        let (attempt, generation) = {
            let mut link = lock(&self.link);
            let attempt = match &link.state {
                State::Up(conn) => return Ok(self.handle(conn.clone(), link.generation)),
                State::Connecting(attempt) => attempt.clone(),
                State::Down(Some((failed_at, error))) if failed_at.elapsed() < RETRY_PAUSE => {
                    return Err(error.clone());
                }
                State::Down(_) => self.start(&mut link),
            };
            (attempt, link.generation)
        };
        let result = attempt.await;
        settle(&self.link, generation, &result);
        Ok(self.handle(result?, generation))
    }

    /// Starts a connection attempt. It runs as a task of its own, so it
    /// completes (and is recorded) even when no call waits for it any more.
    fn start(&self, link: &mut Link) -> Attempt {
        link.generation += 1;
        let generation = link.generation;
        let client = self.client.clone();
        let config = self.config.clone();
        let tracking = self.tracking.clone();
        let attempt: Attempt = async move {
            let mut conn = client
                .get_multiplexed_async_connection_with_config(&config)
                .await?;
            if let Some(tracking) = tracking {
                tracking.command().exec_async(&mut conn).await?;
                // Whatever changed while no connection was tracking went
                // unannounced.
                tracking.cache.forget_all();
            }
            Ok(conn)
        }
        .boxed()
        .shared();
        link.state = State::Connecting(attempt.clone());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let weak = Arc::downgrade(&self.link);
            let background = attempt.clone();
            runtime.spawn(async move {
                let result = background.await;
                if let Some(link) = Weak::upgrade(&weak) {
                    settle(&link, generation, &result);
                }
            });
        }
        attempt
    }

    /// A command on the connection of `generation` failed: when the error
    /// means the connection is gone (not a timeout, not a server reply), a
    /// new one is started in the background and later calls use it.
    fn failed(&self, generation: u64, error: &RedisError) {
        let gone = error.is_unrecoverable_error()
            || error.is_connection_dropped()
            || (error.is_io_error() && !error.is_timeout());
        if !gone {
            return;
        }
        if let Some(tracking) = &self.tracking {
            tracking.cache.forget_all();
        }
        let mut link = lock(&self.link);
        if link.generation == generation {
            tracing::debug!(%error, "redis connection lost; reconnecting");
            // The attempt runs in the background; later calls await it.
            drop(self.start(&mut link));
        }
    }
}

/// Records how attempt `generation` ended, unless a newer one started since.
fn settle(link: &Mutex<Link>, generation: u64, result: &RedisResult<MultiplexedConnection>) {
    let mut link = lock(link);
    if link.generation == generation && matches!(link.state, State::Connecting(_)) {
        link.state = match result {
            Ok(conn) => State::Up(conn.clone()),
            Err(error) => State::Down(Some((Instant::now(), error.clone()))),
        };
    }
}

/// One connection handle, standalone or cluster.
#[derive(Clone)]
pub(crate) enum Conn<'a> {
    Single {
        conn: MultiplexedConnection,
        generation: u64,
        owner: &'a Standalone,
    },
    Cluster(ClusterConnection),
}

impl Conn<'_> {
    /// Sends one command and returns its reply; an error reply is an error.
    /// On a standalone server with automatic pipelining it goes out with the
    /// other commands of this turn of the runtime, in one pipeline; either
    /// way the reply is bounded by the connection's response timeout.
    pub(crate) async fn send(&mut self, cmd: &Cmd) -> RedisResult<Value> {
        let reply = match self {
            Self::Single {
                conn,
                generation,
                owner,
            } => {
                let (sent_on, result) = match &owner.batcher {
                    Some(batcher) => batcher.send(conn, *generation, cmd).await,
                    None => (*generation, conn.send_packed_command(cmd).await),
                };
                if let Err(e) = &result {
                    owner.failed(sent_on, e);
                }
                result?
            }
            Self::Cluster(c) => c.req_packed_command(cmd).await?,
        };
        match reply {
            Value::ServerError(e) => Err(e.into()),
            reply => Ok(reply),
        }
    }

    /// The nodes a listing scans, in a stable order: `""` for a standalone
    /// server, else each master's `host:port` (from `CLUSTER SLOTS`), sorted.
    pub(crate) async fn scan_nodes(&mut self) -> RedisResult<Vec<String>> {
        let Self::Cluster(c) = self else {
            return Ok(vec![String::new()]);
        };
        let reply = c
            .route_command(
                redis::cmd("CLUSTER").arg("SLOTS").clone(),
                RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
            )
            .await?;
        let mut nodes = masters_of(&reply).ok_or_else(|| {
            RedisError::from((
                redis::ErrorKind::UnexpectedReturnType,
                "unexpected CLUSTER SLOTS reply",
            ))
        })?;
        nodes.sort();
        nodes.dedup();
        Ok(nodes)
    }

    /// One `SCAN` step on `node` (as named by [`scan_nodes`](Self::scan_nodes)).
    pub(crate) async fn scan(&mut self, node: &str, cmd: Cmd) -> RedisResult<Value> {
        match self {
            Self::Single { .. } => self.send(&cmd).await,
            Self::Cluster(c) => {
                let (host, port) = node
                    .rsplit_once(':')
                    .and_then(|(h, p)| Some((h.to_owned(), p.parse().ok()?)))
                    .ok_or_else(|| {
                        RedisError::from((
                            redis::ErrorKind::Client,
                            "bad cluster node in page cursor",
                        ))
                    })?;
                c.route_command(
                    cmd,
                    RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host, port }),
                )
                .await
            }
        }
    }
}

/// `host:port` of every master in a `CLUSTER SLOTS` reply.
fn masters_of(reply: &Value) -> Option<Vec<String>> {
    let Value::Array(ranges) = reply else {
        return None;
    };
    ranges
        .iter()
        .map(|range| {
            let Value::Array(parts) = range else {
                return None;
            };
            let Value::Array(master) = parts.get(2)? else {
                return None;
            };
            let host = match master.first()? {
                Value::BulkString(b) => String::from_utf8(b.clone()).ok()?,
                Value::SimpleString(s) => s.clone(),
                _ => return None,
            };
            let Value::Int(port) = master.get(1)? else {
                return None;
            };
            Some(format!("{host}:{port}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masters_come_from_cluster_slots() {
        let node = |host: &str, port: i64| {
            Value::Array(vec![
                Value::BulkString(host.as_bytes().to_vec()),
                Value::Int(port),
                Value::BulkString(b"id".to_vec()),
            ])
        };
        let reply = Value::Array(vec![
            Value::Array(vec![
                Value::Int(0),
                Value::Int(5460),
                node("127.0.0.1", 7001),
            ]),
            Value::Array(vec![
                Value::Int(5461),
                Value::Int(16383),
                node("127.0.0.1", 7000),
                node("127.0.0.1", 7003),
            ]),
        ]);
        assert_eq!(
            masters_of(&reply),
            Some(vec!["127.0.0.1:7001".into(), "127.0.0.1:7000".into()])
        );
        assert_eq!(masters_of(&Value::Nil), None);
    }
}
