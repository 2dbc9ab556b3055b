//! The Redis Cluster connection: one [`ClusterConnection`] (per-node
//! connections, slot routing, redirects, reconnects of dropped node
//! connections), made on first use and replaced in the background when
//! calls keep timing out.
//!
//! The cluster client learns of a new slot map from a `MOVED` reply or a
//! node connection that fails; a command whose reply is late it sends again
//! to the same node. A master that goes silent with its connections open (a
//! frozen process or machine, a network path that drops packets) gives
//! neither: after its replica took over, or a reshard moved its slots, the
//! client would keep sending their commands to it until the kernel gave up
//! on the connection, many minutes later. So once calls keep timing out (one
//! at least a response timeout after another, within [`TIMEOUTS_WINDOW`]), a
//! new connection is made in the background: it reads the slot map from the
//! nodes that answer (a node that does not answer within the connect timeout
//! is left out), and later calls use it. Calls under way finish on the old
//! one.
//!
//! While a reshard moves a slot's keys, Redis refuses a command of several
//! keys in that slot with `TRYAGAIN` when some of them are not on the node
//! it went to. The store's scripts name keys that often do not exist (a
//! delete's tombstone, a login's create marker), so such a command is sent
//! again after a pause ([`TRYAGAIN_PAUSE`]) until it runs, for up to a
//! response timeout; the cluster client's own retries last about 100 ms.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use redis::aio::ConnectionLike as _;
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, ErrorKind, RedisResult, ServerErrorKind, Value};

use crate::runtime_watch::RuntimeWatch;

/// How long a call's timeout counts towards replacing the connection: a
/// second one at least a response timeout after it, and within this, means
/// calls keep timing out, not that one was slow.
pub(crate) const TIMEOUTS_WINDOW: Duration = Duration::from_secs(60);

/// The pause before a command refused with `TRYAGAIN` is sent again.
pub(crate) const TRYAGAIN_PAUSE: Duration = Duration::from_millis(20);

/// The cluster's connection, shared by every call.
pub(crate) struct Cluster {
    client: ClusterClient,
    /// The bound on one command's reply.
    response_timeout: Duration,
    link: Arc<Mutex<Link>>,
    /// Makes calls that find no connection wait for one attempt instead of
    /// each making its own.
    connecting: tokio::sync::Mutex<()>,
    /// Whether the servers' eviction policy was looked at ([`eviction`](crate::eviction)).
    eviction_checked: AtomicBool,
}

/// The current connection. `generation` counts connections, so a timeout
/// on an older one never replaces a newer one.
struct Link {
    generation: u64,
    /// With the watch on the runtime that drives it (see
    /// [`runtime_watch`](crate::runtime_watch)): once that has shut down,
    /// the next call connects again.
    connection: Option<(ClusterConnection, RuntimeWatch)>,
    /// When the first call timeout on this connection within
    /// [`TIMEOUTS_WINDOW`] happened.
    silent_since: Option<Instant>,
    /// A new connection is being made.
    replacing: bool,
}

fn lock(link: &Mutex<Link>) -> MutexGuard<'_, Link> {
    // Nothing under the lock can panic; a poisoned link is still consistent.
    link.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Cluster {
    /// A cluster reached through `client`, whose commands' replies are
    /// bounded by `response_timeout`; nothing is connected yet.
    pub(crate) fn new(client: ClusterClient, response_timeout: Duration) -> Self {
        Self {
            client,
            response_timeout,
            link: Arc::new(Mutex::new(Link {
                generation: 0,
                connection: None,
                silent_since: None,
                replacing: false,
            })),
            connecting: tokio::sync::Mutex::new(()),
            eviction_checked: AtomicBool::new(false),
        }
    }

    /// Whether a connection was made.
    pub(crate) fn is_connected(&self) -> bool {
        lock(&self.link).connection.is_some()
    }

    /// The generation of the current connection (0 before the first).
    pub(crate) fn generation(&self) -> u64 {
        lock(&self.link).generation
    }

    fn current(&self) -> Option<(ClusterConnection, u64)> {
        let mut link = lock(&self.link);
        if link
            .connection
            .as_ref()
            .is_some_and(|(_, watch)| watch.ended())
        {
            tracing::debug!(
                "the runtime of the redis cluster connection has shut down; connecting again"
            );
            link.connection = None;
        }
        let connection = link.connection.as_ref()?.0.clone();
        Some((connection, link.generation))
    }

    /// The current connection, connecting first if there is none yet (a
    /// failed attempt is made again by the next call).
    pub(crate) async fn connection(&self) -> RedisResult<ClusterConnection> {
        if let Some((connection, _)) = self.current() {
            return Ok(connection);
        }
        let _turn = self.connecting.lock().await;
        if let Some((connection, _)) = self.current() {
            return Ok(connection);
        }
        let connection = self.client.get_async_connection().await?;
        if !self.eviction_checked.swap(true, Ordering::Relaxed) {
            crate::connection::check_eviction(&connection);
        }
        let watch = RuntimeWatch::current(|| {});
        let mut link = lock(&self.link);
        link.generation += 1;
        link.connection = Some((connection.clone(), watch));
        link.silent_since = None;
        Ok(connection)
    }

    /// Sends `cmd` on `conn` and returns its reply; an error reply is an
    /// error. A command refused with `TRYAGAIN` (a slot being migrated, see
    /// the module docs) did not run, and is sent again after a pause, until
    /// a response timeout has passed since the first refusal.
    pub(crate) async fn send(&self, conn: &mut ClusterConnection, cmd: &Cmd) -> RedisResult<Value> {
        let mut refused_since = None;
        loop {
            let result = match conn.req_packed_command(cmd).await {
                Ok(Value::ServerError(e)) => Err(e.into()),
                result => result,
            };
            match result {
                Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::TryAgain) => {
                    let first = *refused_since.get_or_insert_with(|| {
                        tracing::debug!(error = %e,
                            "redis cluster slot being migrated; sending the command again");
                        Instant::now()
                    });
                    if first.elapsed() >= self.response_timeout {
                        return Err(e);
                    }
                    tokio::time::sleep(TRYAGAIN_PAUSE).await;
                }
                result => return result,
            }
        }
    }

    /// A call on the connection of `generation` timed out. One timeout may
    /// be a slow command or a busy node; a second one at least a response
    /// timeout after it (within [`TIMEOUTS_WINDOW`]) starts a new
    /// connection in the background (see the module docs).
    pub(crate) fn timed_out(&self, generation: u64) {
        let mut link = lock(&self.link);
        if link.generation != generation || link.replacing || link.connection.is_none() {
            return;
        }
        let now = Instant::now();
        let first = match link.silent_since {
            Some(first) if now.duration_since(first) < TIMEOUTS_WINDOW => first,
            _ => {
                link.silent_since = Some(now);
                return;
            }
        };
        if now.duration_since(first) < self.response_timeout {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        link.replacing = true;
        tracing::warn!(
            "redis cluster calls keep timing out (a node silent, or its slots moved); reconnecting"
        );
        let client = self.client.clone();
        let weak = Arc::downgrade(&self.link);
        runtime.spawn(replace(client, weak, generation));
    }
}

/// Makes a new connection and, unless the store is gone or a newer one was
/// made meanwhile, puts it in place of the connection of `generation`.
async fn replace(client: ClusterClient, link: Weak<Mutex<Link>>, generation: u64) {
    // A task dropped before it finishes (its runtime shut down, a panic)
    // must not leave `replacing` set: no timeout would replace the
    // connection again.
    let mut replacing = Replacing(Some(link.clone()));
    let result = client.get_async_connection().await;
    let watch = RuntimeWatch::current(|| {});
    let Some(link) = Weak::upgrade(&link) else {
        return;
    };
    let mut link = lock(&link);
    // Cleared here, under the lock: a replacement started once it is
    // released is not this one's to clear.
    replacing.0 = None;
    link.replacing = false;
    link.silent_since = None;
    match result {
        Ok(connection) if link.generation == generation => {
            link.generation += 1;
            link.connection = Some((connection, watch));
            tracing::info!("redis cluster connection replaced");
        }
        Ok(_) => {}
        // The current connection stays; calls that keep timing out try
        // again.
        Err(error) => tracing::warn!(%error, "redis cluster reconnection failed"),
    }
}

/// Clears [`Link::replacing`] when the replacing task is dropped before it
/// did (`None` once it did).
struct Replacing(Option<Weak<Mutex<Link>>>);

impl Drop for Replacing {
    fn drop(&mut self) {
        if let Some(link) = self.0.as_ref().and_then(Weak::upgrade) {
            lock(&link).replacing = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis::cluster::ClusterClientBuilder;

    /// A replacement whose task never finishes (its runtime shut down, or
    /// it panicked) must not leave the store unable to start another.
    #[test]
    fn a_replacement_cut_short_does_not_block_later_ones() {
        // Takes connections (the kernel's backlog) and never answers.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        let url = format!("redis://{}", silent.local_addr().expect("an address"));
        let client = ClusterClientBuilder::new(vec![url])
            .connection_timeout(Duration::from_secs(30))
            .response_timeout(Duration::from_secs(30))
            .build()
            .expect("a client");
        let link = Arc::new(Mutex::new(Link {
            generation: 1,
            connection: None,
            silent_since: None,
            replacing: true,
        }));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            tokio::spawn(replace(client, Arc::downgrade(&link), 1));
            tokio::time::sleep(Duration::from_millis(100)).await;
        });
        drop(runtime);
        assert!(!lock(&link).replacing, "a later timeout may replace again");
    }
}
