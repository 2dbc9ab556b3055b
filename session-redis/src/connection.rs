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

    /// The masters a listing scans (from `CLUSTER SLOTS`, asked of any one
    /// node; a standalone server is one master with id and address `""`),
    /// with the fingerprint of the slot map (0 for a standalone server).
    pub(crate) async fn scan_nodes(&mut self) -> RedisResult<ScanNodes> {
        let Self::Cluster(c) = self else {
            return Ok(ScanNodes {
                masters: vec![Master {
                    id: String::new(),
                    address: String::new(),
                }],
                map: 0,
            });
        };
        let reply = c
            .route_command(
                redis::cmd("CLUSTER").arg("SLOTS").clone(),
                RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
            )
            .await?;
        slot_map(&reply).ok_or_else(|| {
            RedisError::from((
                redis::ErrorKind::UnexpectedReturnType,
                "unexpected CLUSTER SLOTS reply",
            ))
        })
    }

    /// One `SCAN` step on the master at `node` (a [`Master::address`]).
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

/// A master a listing scans.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Master {
    /// Its node id (its address when `CLUSTER SLOTS` gives none): the same
    /// in every node's view.
    pub(crate) id: String,
    /// Its `host:port` as the node asked knows it: another node may know it
    /// by another address.
    pub(crate) address: String,
}

/// The masters a listing scans and a fingerprint of which master serves
/// which slots.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ScanNodes {
    /// Sorted by id, each once.
    pub(crate) masters: Vec<Master>,
    /// A hash of the slot ranges and their masters' ids: it changes when
    /// slots move (a reshard) or a master is replaced (a fail-over).
    pub(crate) map: u64,
}

/// FNV-1a (64 bits) of `bytes` from `hash`: stable across builds and
/// processes, unlike std's hasher, since the fingerprint travels in page
/// cursors between app servers.
fn fnv1a(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The [`ScanNodes`] of a `CLUSTER SLOTS` reply.
fn slot_map(reply: &Value) -> Option<ScanNodes> {
    let text = |v: &Value| match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    };
    let Value::Array(ranges) = reply else {
        return None;
    };
    let mut masters: Vec<Master> = Vec::with_capacity(ranges.len());
    let mut owners = Vec::with_capacity(ranges.len());
    for range in ranges {
        let Value::Array(parts) = range else {
            return None;
        };
        let (Some(Value::Int(start)), Some(Value::Int(end)), Some(Value::Array(master))) =
            (parts.first(), parts.get(1), parts.get(2))
        else {
            return None;
        };
        let host = text(master.first()?)?;
        let Value::Int(port) = master.get(1)? else {
            return None;
        };
        let node = format!("{host}:{port}");
        // The node id, where given, names the master the same way in every
        // node's view, whatever address each knows it by.
        let owner = master.get(2).and_then(text).unwrap_or_else(|| node.clone());
        owners.push((*start, *end, owner.clone()));
        masters.push(Master {
            id: owner,
            address: node,
        });
    }
    masters.sort_by(|a, b| a.id.cmp(&b.id));
    masters.dedup_by(|a, b| a.id == b.id);
    // Nodes may list ranges in any order.
    owners.sort();
    let map = owners
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |h, (start, end, owner)| {
            fnv1a(h, format!("{start}-{end}={owner};").as_bytes())
        });
    Some(ScanNodes { masters, map })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(host: &str, port: i64, id: &str) -> Value {
        Value::Array(vec![
            Value::BulkString(host.as_bytes().to_vec()),
            Value::Int(port),
            Value::BulkString(id.as_bytes().to_vec()),
        ])
    }

    fn range(start: i64, end: i64, nodes: Vec<Value>) -> Value {
        let mut parts = vec![Value::Int(start), Value::Int(end)];
        parts.extend(nodes);
        Value::Array(parts)
    }

    #[test]
    fn masters_come_from_cluster_slots() {
        let reply = Value::Array(vec![
            range(0, 5460, vec![node("127.0.0.1", 7001, "b")]),
            range(
                5461,
                16383,
                vec![node("127.0.0.1", 7000, "a"), node("127.0.0.1", 7003, "c")],
            ),
        ]);
        let found = slot_map(&reply).expect("parses");
        let masters: Vec<(&str, &str)> = found
            .masters
            .iter()
            .map(|m| (m.id.as_str(), m.address.as_str()))
            .collect();
        assert_eq!(masters, [("a", "127.0.0.1:7000"), ("b", "127.0.0.1:7001")]);
        assert_eq!(slot_map(&Value::Nil), None);
        assert_eq!(slot_map(&Value::Array(vec![Value::Int(0)])), None);
    }

    #[test]
    fn the_map_fingerprint_changes_when_slots_or_masters_do() {
        let map = |ranges: Vec<Value>| slot_map(&Value::Array(ranges)).expect("parses").map;
        let a = || node("10.0.0.1", 7000, "a");
        let b = || node("10.0.0.2", 7000, "b");
        let base = map(vec![
            range(0, 8191, vec![a()]),
            range(8192, 16383, vec![b()]),
        ]);
        // The same map in another order, or with other addresses or
        // replicas, as another node may report it.
        assert_eq!(
            base,
            map(vec![
                range(8192, 16383, vec![node("host-b", 7000, "b"), a()]),
                range(0, 8191, vec![a()]),
            ])
        );
        // A slot moved.
        assert_ne!(
            base,
            map(vec![
                range(0, 8192, vec![a()]),
                range(8193, 16383, vec![b()])
            ])
        );
        // A master replaced (a fail-over).
        assert_ne!(
            base,
            map(vec![
                range(0, 8191, vec![node("10.0.0.3", 7000, "c")]),
                range(8192, 16383, vec![b()]),
            ])
        );
    }
}
