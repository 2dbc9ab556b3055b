//! Connections: for a standalone server one multiplexed connection
//! ([`MultiplexedConnection`]) shared by every call and replaced in the
//! background when it drops; for a cluster a [`ClusterConnection`] (per-node
//! connections, slot routing, redirects, reconnects), replaced when calls
//! keep timing out ([`cluster`](crate::cluster)). Both are made on first
//! use, so a store can be built while Redis is down; a failed connection
//! attempt is started again by the next call. A standalone connection that
//! goes silent without closing (a half-open connection: a NAT or load
//! balancer dropped the flow without a reset, a network path died) is
//! replaced like a lost one once its commands keep timing out with no
//! reply in between; TCP keepalive probes find such a connection while it
//! is idle. With a local cache, each new standalone connection turns on
//! invalidation tracking before it is used.
//! Commands on the standalone connection are pipelined automatically unless
//! turned off: those sent in the same turn of the runtime go out in one write
//! ([`batch`](crate::batch)).

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

use futures_util::FutureExt as _;
use futures_util::future::{BoxFuture, Shared};
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{
    MultipleNodeRoutingInfo, Route, RoutingInfo, SingleNodeRoutingInfo, Slot, SlotAddr,
};
use redis::{AsyncConnectionConfig, Cmd, ErrorKind, RedisError, RedisResult, Value};

use crate::batch::Batcher;
use crate::cache::LocalCache;
use crate::cluster::Cluster;
use crate::reply;
use crate::runtime_watch::RuntimeWatch;

/// Where the store's data lives.
pub(crate) enum Backend {
    Standalone(Standalone),
    Cluster(Cluster),
}

impl fmt::Debug for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Standalone(standalone) => f
                .debug_struct("Standalone")
                .field("connected", &standalone.is_up())
                .finish_non_exhaustive(),
            Self::Cluster(cluster) => f
                .debug_struct("Cluster")
                .field("connected", &cluster.is_connected())
                .finish_non_exhaustive(),
        }
    }
}

impl Backend {
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster(_))
    }

    /// In a cluster, the generation of the current connection, for
    /// [`timed_out`](Self::timed_out); `None` on a standalone server, whose
    /// connection watches its own commands' timeouts.
    pub(crate) fn cluster_generation(&self) -> Option<u64> {
        match self {
            Self::Standalone(_) => None,
            Self::Cluster(cluster) => Some(cluster.generation()),
        }
    }

    /// A store call that began on the cluster connection of `generation`
    /// timed out (see [`Cluster::timed_out`]).
    pub(crate) fn timed_out(&self, generation: u64) {
        if let Self::Cluster(cluster) = self {
            cluster.timed_out(generation);
        }
    }

    /// The standalone connection if it is up, without waiting (a lock, a
    /// handle clone): the hot path.
    pub(crate) fn ready(&self) -> Option<Conn<'_>> {
        match self {
            Self::Standalone(standalone) => standalone.ready(),
            Self::Cluster(_) => None,
        }
    }

    /// A connection handle, connecting first if needed (cheap to clone;
    /// concurrent commands share the underlying multiplexed connections).
    pub(crate) async fn connection(&self) -> RedisResult<Conn<'_>> {
        match self {
            Self::Standalone(standalone) => standalone.connection().await,
            Self::Cluster(cluster) => Ok(Conn::Cluster {
                conn: cluster.connection().await?,
                owner: cluster,
            }),
        }
    }
}

/// A connection made, with the watch on the runtime that drives it.
type Made = (MultiplexedConnection, Arc<RuntimeWatch>);

/// A connection attempt, shared by the calls that wait for it: `None` when
/// the runtime it ran on shut down before it ended.
type Attempt = Shared<BoxFuture<'static, Option<RedisResult<Made>>>>;

/// Looks at the server's eviction policy on a task of its own.
pub(crate) fn check_eviction<C>(conn: &C)
where
    C: ConnectionLike + Clone + Send + 'static,
{
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(crate::eviction::check(conn.clone()));
    }
}

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
    /// The bound on one command's reply.
    response_timeout: Duration,
    /// How long an attempt may take (its handshake, then `CLIENT
    /// TRACKING`) when its runtime runs it.
    attempt_bound: Duration,
    /// Whether the current connection's last outcome was a timeout (mirrors
    /// `Link::silent_since`), so a reply costs one load, not the lock.
    silent: AtomicBool,
    /// Whether the server's eviction policy was looked at ([`eviction`](crate::eviction)).
    eviction_checked: Arc<AtomicBool>,
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
    /// When the first of the current connection's timeouts since its last
    /// reply fired.
    silent_since: Option<Instant>,
    /// A connection was lost (logged) and none is up since: the next one
    /// up says so.
    lost: bool,
}

enum State {
    /// No connection: the next call starts an attempt, unless the last one
    /// failed less than [`RETRY_PAUSE`] ago (then calls fail with its error).
    Down(Option<(Instant, RedisError)>),
    /// An attempt under way, awaited by the calls that need it (see
    /// [`Started`] for when a call of another runtime gives up on it).
    Connecting(Attempt, Started),
    /// Up, while the runtime that drives it runs.
    Up(MultiplexedConnection, Arc<RuntimeWatch>),
}

/// Where and when an attempt started. Its task runs on the runtime that
/// started it; a runtime that is alive but not running its tasks (a
/// current-thread runtime between two `block_on`s) would hold up the calls
/// of every other runtime. So a call of another runtime waits for the
/// attempt only until it is stale: its task not begun within
/// [`FIRST_POLL_GRACE`], or not ended within the attempt's bound; then it
/// starts another from its own runtime. Calls of the attempt's own runtime
/// wait for it: their runtime runs it.
#[derive(Clone)]
struct Started {
    at: Instant,
    runtime: Option<tokio::runtime::Id>,
    begun: Arc<AtomicBool>,
}

/// How long an attempt's task may wait to begin before a call of another
/// runtime takes its runtime for one that is not running it.
const FIRST_POLL_GRACE: Duration = Duration::from_millis(100);

impl Started {
    /// When a call on `here` gives up on the attempt; `None`: it waits.
    fn stale_at(&self, here: Option<tokio::runtime::Id>, bound: Duration) -> Option<Instant> {
        if self.runtime.is_some() && self.runtime == here {
            return None;
        }
        let after = if self.begun.load(Ordering::Acquire) {
            bound
        } else {
            FIRST_POLL_GRACE.min(bound)
        };
        Some(self.at + after)
    }
}

fn current_runtime() -> Option<tokio::runtime::Id> {
    tokio::runtime::Handle::try_current().ok().map(|h| h.id())
}

fn lock(link: &Mutex<Link>) -> MutexGuard<'_, Link> {
    // The lock is never held across anything that can panic; a poisoned
    // lock still holds a consistent link.
    link.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Standalone {
    /// `config` carries the connect timeout (the whole handshake) and the
    /// response timeout (every command's reply, `response_timeout`); with
    /// `tracking`, it also carries the push handler of the cache, and the
    /// client speaks RESP3.
    pub(crate) fn new(
        client: redis::Client,
        config: AsyncConnectionConfig,
        timeouts: (Duration, Duration),
        tracking: Option<Tracking>,
        auto_pipeline: bool,
    ) -> Self {
        let (connect_timeout, response_timeout) = timeouts;
        Self {
            client,
            config,
            link: Arc::new(Mutex::new(Link {
                generation: 0,
                state: State::Down(None),
                silent_since: None,
                lost: false,
            })),
            tracking,
            batcher: auto_pipeline.then(Arc::default),
            response_timeout,
            attempt_bound: connect_timeout.saturating_add(response_timeout),
            silent: AtomicBool::new(false),
            eviction_checked: Arc::default(),
        }
    }

    fn is_up(&self) -> bool {
        matches!(lock(&self.link).state, State::Up(..))
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
        let mut link = lock(&self.link);
        match &link.state {
            State::Up(_, watch) if watch.ended() => {
                // Awaited by the calls that take the slow path.
                drop(self.runtime_ended(&mut link));
                None
            }
            State::Up(conn, _) => Some(self.handle(conn.clone(), link.generation)),
            State::Down(_) | State::Connecting(..) => None,
        }
    }

    async fn connection(&self) -> RedisResult<Conn<'_>> {
        let here = current_runtime();
        // A second attempt cut short means this call's own runtime is
        // shutting down; one of this runtime's is never stale, so this ends.
        let mut cut = 0;
        while cut < 2 {
            let (attempt, generation, stale_at) = {
                let mut link = lock(&self.link);
                let (attempt, started) = match &link.state {
                    State::Up(_, watch) if watch.ended() => self.runtime_ended(&mut link),
                    State::Up(conn, _) => return Ok(self.handle(conn.clone(), link.generation)),
                    State::Connecting(_, started)
                        if started
                            .stale_at(here, self.attempt_bound)
                            .is_some_and(|at| Instant::now() >= at) =>
                    {
                        tracing::debug!(
                            "a redis connection attempt of another runtime is stale (that runtime is not running it); connecting again"
                        );
                        self.start(&mut link)
                    }
                    State::Connecting(attempt, started) => (attempt.clone(), started.clone()),
                    State::Down(Some((failed_at, error))) if failed_at.elapsed() < RETRY_PAUSE => {
                        return Err(error.clone());
                    }
                    State::Down(_) => self.start(&mut link),
                };
                (
                    attempt,
                    link.generation,
                    started.stale_at(here, self.attempt_bound),
                )
            };
            let outcome = match stale_at {
                None => attempt.await,
                Some(at) => match tokio::time::timeout_at(at.into(), attempt).await {
                    Ok(outcome) => outcome,
                    // Stale: the next round starts another.
                    Err(_) => continue,
                },
            };
            let Some(result) = outcome else {
                cut += 1;
                cut_short(&self.link, generation);
                continue;
            };
            settle(&self.link, generation, &result);
            return Ok(self.handle(result?.0, generation));
        }
        Err(RedisError::from((
            ErrorKind::Client,
            "the runtime of the redis connection attempt shut down",
        )))
    }

    /// The runtime that drove the current connection shut down (see
    /// [`runtime_watch`](crate::runtime_watch)): a new connection is
    /// started from this call's runtime. The cache forgot its copies when
    /// the runtime ended.
    fn runtime_ended(&self, link: &mut Link) -> (Attempt, Started) {
        tracing::debug!("the runtime of the redis connection has shut down; connecting again");
        self.start(link)
    }

    /// Starts a connection attempt. It runs as a task of its own on this
    /// call's runtime, so it completes (and is recorded) even when no call
    /// waits for it any more, and the connection's driver and its watch are
    /// that runtime's, whichever calls wait for it; if that runtime shuts
    /// down first, the calls waiting start another from theirs.
    fn start(&self, link: &mut Link) -> (Attempt, Started) {
        link.generation += 1;
        link.silent_since = None;
        self.silent.store(false, Ordering::Relaxed);
        let generation = link.generation;
        let client = self.client.clone();
        let config = self.config.clone();
        let tracking = self.tracking.clone();
        let eviction_checked = Arc::clone(&self.eviction_checked);
        let connect = async move {
            let mut conn = client
                .get_multiplexed_async_connection_with_config(&config)
                .await?;
            // Made in the poll that spawned the connection's driver.
            let cache = tracking.as_ref().map(|t| Arc::clone(&t.cache));
            let watch = RuntimeWatch::current(move || {
                // Its invalidations end with the connection's driver.
                if let Some(cache) = cache {
                    cache.forget_all();
                }
            });
            if let Some(tracking) = &tracking {
                tracking.command().exec_async(&mut conn).await?;
                // Whatever changed while no connection was tracking went
                // unannounced.
                tracking.cache.forget_all();
            }
            if !eviction_checked.swap(true, Ordering::Relaxed) {
                check_eviction(&conn);
            }
            Ok((conn, Arc::new(watch)))
        };
        let begun = Arc::new(AtomicBool::new(false));
        let (attempt, runtime): (Attempt, _) = match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let weak = Arc::downgrade(&self.link);
                let running = Arc::clone(&begun);
                let task = runtime.spawn(async move {
                    running.store(true, Ordering::Release);
                    let result = connect.await;
                    if let Some(link) = Weak::upgrade(&weak) {
                        settle(&link, generation, &result);
                    }
                    result
                });
                let attempt = task.map(|joined| match joined {
                    Ok(result) => Some(result),
                    // Dropped unfinished: its runtime shut down.
                    Err(e) if e.is_cancelled() => None,
                    // A failure like any other, recorded with its pause.
                    Err(_) => Some(Err(RedisError::from((
                        ErrorKind::Client,
                        "the redis connection attempt panicked",
                    )))),
                });
                (attempt.boxed().shared(), Some(runtime.id()))
            }
            // No runtime: the calls that wait drive it.
            Err(_) => {
                begun.store(true, Ordering::Release);
                (connect.map(Some).boxed().shared(), None)
            }
        };
        let started = Started {
            at: Instant::now(),
            runtime,
            begun,
        };
        link.state = State::Connecting(attempt.clone(), started.clone());
        (attempt, started)
    }

    /// A command on the connection of `generation` failed: when the error
    /// means the connection is gone (not a server reply), or it timed out
    /// on a connection gone silent ([`timed_out`](Self::timed_out)), a new
    /// one is started in the background and later calls use it.
    fn failed(&self, generation: u64, error: &RedisError) {
        if error.is_timeout() {
            return self.timed_out(generation, error);
        }
        let gone =
            error.is_unrecoverable_error() || error.is_connection_dropped() || error.is_io_error();
        if !gone {
            return;
        }
        self.replace(generation, error, "redis connection lost; reconnecting");
    }

    /// A command on the connection of `generation` timed out. One timeout
    /// may be a slow command or a busy server; a timeout at least a
    /// response timeout after the first, with no reply in between, means
    /// the connection has answered nothing for two response timeouts: it is
    /// taken for lost (half-open, see the module docs), as the kernel may
    /// take many minutes to give up on it.
    fn timed_out(&self, generation: u64, error: &RedisError) {
        {
            let mut link = lock(&self.link);
            if link.generation != generation || !matches!(link.state, State::Up(..)) {
                return;
            }
            let first = *link.silent_since.get_or_insert_with(Instant::now);
            self.silent.store(true, Ordering::Relaxed);
            if first.elapsed() < self.response_timeout {
                return;
            }
        }
        self.replace(
            generation,
            error,
            "redis connection silent (commands time out); reconnecting",
        );
    }

    /// A reply came on the connection of `generation`: it is not silent.
    fn answered(&self, generation: u64) {
        if self.silent.load(Ordering::Relaxed) {
            let mut link = lock(&self.link);
            if link.generation == generation {
                link.silent_since = None;
                self.silent.store(false, Ordering::Relaxed);
            }
        }
    }

    /// The connection of `generation` is lost: every cached copy goes
    /// (invalidations may have been missed) and, unless a newer connection
    /// was started meanwhile, a new one is started in the background.
    fn replace(&self, generation: u64, error: &RedisError, why: &'static str) {
        if let Some(tracking) = &self.tracking {
            tracking.cache.forget_all();
        }
        let mut link = lock(&self.link);
        if link.generation == generation {
            // Once per lost connection: the attempts after it log at debug.
            tracing::warn!(%error, "{why}");
            link.lost = true;
            // The attempt runs in the background; later calls await it.
            drop(self.start(&mut link));
        }
    }
}

/// Attempt `generation` was cut short by its runtime shutting down: unless a
/// newer one started since, the next call starts another at once (not a
/// failure of Redis, so no pause).
fn cut_short(link: &Mutex<Link>, generation: u64) {
    let mut link = lock(link);
    if link.generation == generation && matches!(link.state, State::Connecting(..)) {
        tracing::debug!("a redis connection attempt was cut short by its runtime shutting down");
        link.state = State::Down(None);
    }
}

/// Records how attempt `generation` ended, unless a newer one started since.
fn settle(link: &Mutex<Link>, generation: u64, result: &RedisResult<Made>) {
    let mut link = lock(link);
    if link.generation == generation && matches!(link.state, State::Connecting(..)) {
        link.state = match result {
            Ok((conn, watch)) => {
                if std::mem::take(&mut link.lost) {
                    tracing::info!("redis connection up again");
                }
                State::Up(conn.clone(), Arc::clone(watch))
            }
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
    Cluster {
        conn: ClusterConnection,
        owner: &'a Cluster,
    },
}

impl Conn<'_> {
    /// Sends one command and returns its reply; an error reply is an error.
    /// On a standalone server with automatic pipelining it goes out with the
    /// other commands of this turn of the runtime, in one pipeline; either
    /// way the reply is bounded by the connection's response timeout. In a
    /// cluster a command refused while its slot is migrated is sent again
    /// ([`Cluster::send`]).
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
                match &result {
                    Ok(_) => owner.answered(sent_on),
                    Err(e) => owner.failed(sent_on, e),
                }
                result?
            }
            Self::Cluster { conn, owner } => owner.send(conn, cmd).await?,
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
        let Self::Cluster { conn: c, .. } = self else {
            return Ok(ScanNodes {
                masters: vec![Master {
                    id: String::new(),
                    address: String::new(),
                    slot: 0,
                }],
                map: 0,
            });
        };
        let slots = redis::cmd("CLUSTER").arg("SLOTS").clone();
        let random = || RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random);
        // Once more on a failure: with every connection closed by the
        // servers (idle timeouts), the first ask finds none and only starts
        // the reconnection.
        let reply = match c.route_command(slots.clone(), random()).await {
            Ok(reply) => reply,
            Err(_) => c.route_command(slots, random()).await?,
        };
        slot_map(&reply).map_err(|why| {
            RedisError::from((
                redis::ErrorKind::UnexpectedReturnType,
                "unexpected CLUSTER SLOTS reply",
                why.to_owned(),
            ))
        })
    }

    /// One `SCAN` step on `master`; `None` when another node answered.
    pub(crate) async fn scan(&mut self, master: &Master, cmd: Cmd) -> RedisResult<Option<Value>> {
        let Self::Cluster { conn: c, .. } = self else {
            return self.send(&cmd).await.map(Some);
        };
        // Routed by a slot of the master, over the client's own connections
        // (the address this page's map gives may be one the client has none
        // for). The client's map may differ from the page's, or fall back to
        // another node while the master's connection is down, so the node's
        // id, asked on the same connection just before, says who scanned.
        let mut pipe = redis::pipe();
        pipe.cmd("CLUSTER").arg("MYID").add_command(cmd);
        let route = SingleNodeRoutingInfo::SpecificNode(Route::new(master.slot, SlotAddr::Master));
        let mut replies = c.route_pipeline(pipe, 0, 2, route).await?.into_iter();
        let (Some(id), Some(scan), None) = (replies.next(), replies.next(), replies.next()) else {
            return Err(bad_reply("CLUSTER MYID and SCAN"));
        };
        for reply in [&id, &scan] {
            if let Value::ServerError(e) = reply {
                return Err(e.clone().into());
            }
        }
        let id = reply::text(id).ok_or_else(|| bad_reply("CLUSTER MYID"))?;
        Ok((id == master.id).then_some(scan))
    }

    /// Has the client read the slot map again when it sent a command for
    /// `slot` to another node than the master this page's map gives: a
    /// read of a key in the slot gets a `MOVED` from a node that no longer
    /// serves it, and a `MOVED` makes the client refresh its map. Nothing
    /// else would, on a cluster that serves no other command for the slot.
    /// The key is `<key_head><n>}` when that hashes to `slot`, else (a key
    /// prefix with a hash tag of its own) the bare `{<n>}`, which a user
    /// whose ACL key patterns only allow the prefix may not read.
    pub(crate) async fn refresh_slot(&mut self, slot: u16, key_head: &str) -> RedisResult<()> {
        let Self::Cluster { conn: c, .. } = self else {
            return Ok(());
        };
        let Some(n) = tag_in_slot(slot) else {
            return Ok(());
        };
        let prefixed = format!("{key_head}{n}}}");
        let key = if Some(Slot::for_key(&prefixed)) == Slot::new(slot) {
            prefixed
        } else {
            format!("{{{n}}}")
        };
        let mut exists = redis::cmd("EXISTS");
        exists.arg(key);
        match c.req_packed_command(&exists).await? {
            Value::ServerError(e) => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Every slot migration under way, as each master tells of its own (the
    /// `myself` line of its `CLUSTER NODES`), asked of every master at once;
    /// `None` when a master of `masters` did not answer for itself (the
    /// client's map names other masters than the page's).
    pub(crate) async fn migrations(
        &mut self,
        masters: &[Master],
    ) -> RedisResult<Option<Vec<Migration>>> {
        let Self::Cluster { conn: c, .. } = self else {
            return Ok(Some(Vec::new()));
        };
        let reply = c
            .route_command(
                redis::cmd("CLUSTER").arg("NODES").clone(),
                RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None)),
            )
            .await?;
        let replies = match reply {
            Value::Map(pairs) => pairs.into_iter().map(|(_, v)| v).collect(),
            // One master: its reply alone.
            reply => vec![reply],
        };
        let mut answered = Vec::with_capacity(replies.len());
        let mut migrations = Vec::new();
        for reply in replies {
            if let Value::ServerError(e) = reply {
                return Err(e.into());
            }
            let nodes = reply::text(reply).ok_or_else(|| bad_reply("CLUSTER NODES"))?;
            let (id, moving) = own_migrations(&nodes).ok_or_else(|| bad_reply("CLUSTER NODES"))?;
            answered.push(id);
            migrations.extend(moving);
        }
        let all = masters.iter().all(|m| answered.contains(&m.id));
        Ok(all.then_some(migrations))
    }
}

fn bad_reply(what: &'static str) -> RedisError {
    RedisError::from((
        redis::ErrorKind::UnexpectedReturnType,
        "unexpected reply",
        what.to_owned(),
    ))
}

/// Decimal hash tags cover every slot below this (109,758 do).
const TAG_SEARCH: u32 = 200_000;

/// A decimal hash tag whose keys hash to `slot`.
fn tag_in_slot(slot: u16) -> Option<u32> {
    // Searched once for every slot, not on each refresh.
    static TAGS: OnceLock<HashMap<Slot, u32>> = OnceLock::new();
    let tags = TAGS.get_or_init(|| {
        let mut tags = HashMap::with_capacity(16384);
        for n in 0..TAG_SEARCH {
            tags.entry(Slot::for_key(n.to_string())).or_insert(n);
        }
        tags
    });
    tags.get(&Slot::new(slot)?).copied()
}

/// A slot on its way between two masters (node ids).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Migration {
    pub(crate) slot: u16,
    pub(crate) from: String,
    pub(crate) to: String,
}

/// The id of the node whose `CLUSTER NODES` this is and the migrations it
/// takes part in: `[slot->-to]` (migrating), `[slot-<-from]` (importing).
fn own_migrations(nodes: &str) -> Option<(String, Vec<Migration>)> {
    let line = nodes.lines().find(|line| {
        line.split(' ')
            .nth(2)
            .is_some_and(|flags| flags.split(',').any(|f| f == "myself"))
    })?;
    let fields: Vec<&str> = line.split(' ').collect();
    let id = (*fields.first()?).to_owned();
    let mut migrations = Vec::new();
    for field in fields.iter().skip(8) {
        let Some(inner) = field.strip_prefix('[').and_then(|f| f.strip_suffix(']')) else {
            continue;
        };
        let (slot, from, to) = if let Some((slot, to)) = inner.split_once("->-") {
            (slot, id.clone(), to.to_owned())
        } else if let Some((slot, from)) = inner.split_once("-<-") {
            (slot, from.to_owned(), id.clone())
        } else {
            return None;
        };
        migrations.push(Migration {
            slot: slot.parse().ok()?,
            from,
            to,
        });
    }
    Some((id, migrations))
}

/// A master a listing scans.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Master {
    /// Its node id: the same in every node's view.
    pub(crate) id: String,
    /// Its `host:port` as the node asked knows it (the host empty when that
    /// node does not know it): only a name, for version 1 cursors; another
    /// node may know it by another address.
    pub(crate) address: String,
    /// A slot it serves, by which its commands are routed.
    pub(crate) slot: u16,
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

/// The [`ScanNodes`] of a `CLUSTER SLOTS` reply, or what is wrong with it.
fn slot_map(reply: &Value) -> Result<ScanNodes, &'static str> {
    // Without node ids a listing could never tell which master answered.
    const NO_ID: &str = "CLUSTER SLOTS names no node ids (Redis 4.0 or later does): \
                         a cluster listing cannot tell the masters apart";
    const SHAPE: &str = "CLUSTER SLOTS reply of an unexpected shape";
    let Value::Array(ranges) = reply else {
        return Err(SHAPE);
    };
    let mut masters: Vec<Master> = Vec::with_capacity(ranges.len());
    let mut owners = Vec::with_capacity(ranges.len());
    for range in ranges {
        let Value::Array(parts) = range else {
            return Err(SHAPE);
        };
        let (Some(Value::Int(start)), Some(Value::Int(end)), Some(Value::Array(master))) =
            (parts.first(), parts.get(1), parts.get(2))
        else {
            return Err(SHAPE);
        };
        let slot = u16::try_from(*start)
            .ok()
            .filter(|s| Slot::new(*s).is_some())
            .ok_or(SHAPE)?;
        // A node that does not know a host gives "" (a one-node cluster for
        // itself), "?" or nil (`cluster-preferred-endpoint-type
        // unknown-endpoint`): commands go by slot, so only the name lacks it.
        let host = match master.first().ok_or(SHAPE)? {
            Value::Nil => String::new(),
            host => reply::text(host.clone())
                .filter(|h| h != "?")
                .unwrap_or_default(),
        };
        let Value::Int(port) = master.get(1).ok_or(SHAPE)? else {
            return Err(SHAPE);
        };
        let node = format!("{host}:{port}");
        // The node id names the master the same way in every node's view,
        // whatever address each knows it by.
        let owner = master
            .get(2)
            .and_then(|id| reply::text(id.clone()))
            .filter(|id| !id.is_empty())
            .ok_or(NO_ID)?;
        owners.push((*start, *end, owner.clone()));
        masters.push(Master {
            id: owner,
            address: node,
            slot,
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
    Ok(ScanNodes { masters, map })
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
        assert!(slot_map(&Value::Nil).is_err());
        assert!(slot_map(&Value::Array(vec![Value::Int(0)])).is_err());
        // No node ids (servers before Redis 4.0, look-alikes): refused, as a
        // listing could never match a master's answer to it.
        let no_ids = Value::Array(vec![range(
            0,
            16383,
            vec![Value::Array(vec![
                Value::BulkString(b"h".to_vec()),
                Value::Int(1),
            ])],
        )]);
        assert!(slot_map(&no_ids).is_err_and(|e| e.contains("node ids")));
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

    /// A node that does not know a master's host (a one-node cluster for
    /// itself: "", `unknown-endpoint`: nil or "?") still gives a map.
    #[test]
    fn an_unknown_host_is_taken() {
        for host in [
            Value::BulkString(Vec::new()),
            Value::Nil,
            Value::BulkString(b"?".to_vec()),
        ] {
            let reply = Value::Array(vec![range(
                0,
                16383,
                vec![Value::Array(vec![
                    host,
                    Value::Int(7000),
                    Value::BulkString(b"a".to_vec()),
                ])],
            )]);
            let found = slot_map(&reply).expect("parses");
            assert_eq!(
                found.masters,
                [Master {
                    id: "a".into(),
                    address: ":7000".into(),
                    slot: 0,
                }]
            );
        }
        // A master's routing slot is one it serves.
        let reply = Value::Array(vec![range(100, 200, vec![node("h", 1, "a")])]);
        assert_eq!(slot_map(&reply).expect("parses").masters[0].slot, 100);
        let out_of_range = Value::Array(vec![range(16384, 16384, vec![node("h", 1, "a")])]);
        assert!(slot_map(&out_of_range).is_err());
    }

    #[test]
    fn a_node_tells_its_own_migrations() {
        let nodes = "\
b1 127.0.0.1:7001@17001 master - 0 1 2 connected 5461-10922 [93-<-c1]
a1 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460 [77->-b1] [1002-<-c1]
c1 127.0.0.1:7002@17002 master - 0 1 3 connected 10923-16383
";
        let (id, migrations) = own_migrations(nodes).expect("parses");
        assert_eq!(id, "a1");
        assert_eq!(
            migrations,
            [
                Migration {
                    slot: 77,
                    from: "a1".into(),
                    to: "b1".into(),
                },
                Migration {
                    slot: 1002,
                    from: "c1".into(),
                    to: "a1".into(),
                },
            ]
        );
        assert_eq!(
            own_migrations("b1 h:1@2 master - 0 0 1 connected 0-5\n"),
            None
        );
        assert_eq!(
            own_migrations("a1 h:1@2 myself,master - 0 0 1 connected [x->-b]\n"),
            None
        );
    }

    /// `refresh_slot` finds a key for any slot.
    #[test]
    fn decimal_tags_cover_every_slot() {
        let slots: std::collections::HashSet<String> = (0..TAG_SEARCH)
            .map(|n| format!("{:?}", Slot::for_key(n.to_string())))
            .collect();
        assert_eq!(slots.len(), 16384);
        assert!(tag_in_slot(16383).is_some());
        assert_eq!(tag_in_slot(16384), None);
    }

    /// A connection attempt whose task panics (here: a runtime without
    /// timers, and a connect timeout) is a failed attempt, not one cut short
    /// by its runtime shutting down: it is not started again at once by the
    /// same call, nor by every call after it without the pause that follows
    /// a failed attempt (else a panic that recurs starts two attempts per
    /// call, each a task that panics, with an error that blames a runtime
    /// shutdown).
    #[test]
    fn a_connection_attempt_that_panics_is_a_failure_not_a_cut_short_attempt() {
        if !session_tests::redis::available() {
            return;
        }
        let server = session_tests::redis::RedisServer::start(&[]);
        let client = redis::Client::open(server.url()).expect("url");
        let standalone = Standalone::new(
            client,
            AsyncConnectionConfig::new().set_connection_timeout(Some(Duration::from_secs(2))),
            (Duration::from_secs(2), Duration::from_secs(5)),
            None,
            false,
        );
        // I/O but no timers: the connect timeout panics in the attempt's task.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .expect("a runtime");
        let mut errors = Vec::new();
        for _ in 0..2 {
            // Either outcome of the call is fine: an error, or the panic.
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                rt.block_on(standalone.connection()).map(|_| ())
            }));
            if let Ok(Err(e)) = outcome {
                errors.push(e.to_string());
            }
        }
        let attempts = lock(&standalone.link).generation;
        drop(rt);
        server.stop();
        assert_eq!(
            attempts, 1,
            "two calls within the retry pause started {attempts} attempts; errors: {errors:?}"
        );
    }
}

/// What the cluster reports about itself under generated cases: any
/// `CLUSTER SLOTS` reply is a slot map or refused, and any `CLUSTER NODES`
/// text is read or refused, never a panic.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Nil),
            prop_oneof![any::<i64>(), -2i64..17000].prop_map(Value::Int),
            "[a-c?]{0,3}|127\\.0\\.0\\.1".prop_map(|s| Value::BulkString(s.into_bytes())),
            prop::collection::vec(any::<u8>(), 0..6).prop_map(Value::BulkString),
            ".{0,4}".prop_map(Value::SimpleString),
        ];
        leaf.prop_recursive(3, 40, 5, |inner| {
            prop::collection::vec(inner, 0..5).prop_map(Value::Array)
        })
    }

    /// A well-formed reply: ranges of slots, each with a master `(host,
    /// port, id)` and maybe replicas.
    fn ranges() -> impl Strategy<Value = Vec<(i64, i64, String, i64, String)>> {
        prop::collection::vec(
            (
                0i64..16384,
                0i64..16384,
                "[a-z0-9.]{0,9}|\\?",
                1i64..65536,
                "[a-d]",
            ),
            1..6,
        )
    }

    fn reply(ranges: &[(i64, i64, String, i64, String)]) -> Value {
        Value::Array(
            ranges
                .iter()
                .map(|(start, end, host, port, id)| {
                    Value::Array(vec![
                        Value::Int(*start),
                        Value::Int(*end),
                        Value::Array(vec![
                            Value::BulkString(host.clone().into_bytes()),
                            Value::Int(*port),
                            Value::BulkString(id.clone().into_bytes()),
                        ]),
                    ])
                })
                .collect(),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_reply_as_cluster_slots_is_a_map_or_refused(reply in value()) {
            if let Ok(nodes) = slot_map(&reply) {
                prop_assert!(nodes.masters.windows(2).all(|w| w[0].id < w[1].id));
                for master in &nodes.masters {
                    prop_assert!(!master.id.is_empty());
                    prop_assert!(Slot::new(master.slot).is_some());
                }
            }
        }

        #[test]
        fn the_slot_map_is_each_master_once_whatever_the_order(
            ranges in ranges(),
            rotate in any::<usize>(),
        ) {
            let nodes = slot_map(&reply(&ranges)).unwrap();
            let mut ids: Vec<&str> = ranges.iter().map(|r| r.4.as_str()).collect();
            ids.sort_unstable();
            ids.dedup();
            let found: Vec<&str> = nodes.masters.iter().map(|m| m.id.as_str()).collect();
            prop_assert_eq!(found, ids);
            let mut moved = ranges.clone();
            moved.rotate_left(rotate % ranges.len());
            prop_assert_eq!(slot_map(&reply(&moved)).unwrap().map, nodes.map);
        }

        #[test]
        fn any_text_as_cluster_nodes_is_read_or_refused(
            lines in prop::collection::vec(
                prop_oneof![
                    ".{0,40}",
                    "[a-c] [0-9.:@]{0,12} (myself,)?master - 0 0 1 connected( [0-9]{1,5}(-[0-9]{1,5})?| \\[[0-9]{1,6}-[<>]-[a-c]{0,2}\\]){0,3}",
                ],
                0..4,
            ),
        ) {
            let text = lines.join("\n");
            if let Some((id, migrations)) = own_migrations(&text) {
                for m in migrations {
                    prop_assert!(m.from == id || m.to == id, "{:?} of {}", m.slot, id);
                }
            }
        }
    }
}
