//! The Redis servers the tests share (stopped at exit), store factories and
//! command counters. The server processes themselves come from
//! `session_tests::redis`.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use session_core::{MockClock, SessionId};
use session_redis::RedisStore;
pub use session_tests::redis::{RedisCluster, RedisServer, available};

static SHARED_SERVER: OnceLock<Option<RedisServer>> = OnceLock::new();
static SHARED_CLUSTER: OnceLock<Option<RedisCluster>> = OnceLock::new();

/// Stops the shared servers when the test binary exits (statics are never
/// dropped), reaping them so no process is left behind, not even a zombie.
extern "C" fn stop_shared_servers() {
    if let Some(Some(server)) = SHARED_SERVER.get() {
        server.stop();
    }
    if let Some(Some(cluster)) = SHARED_CLUSTER.get() {
        for node in cluster.nodes() {
            node.stop();
        }
    }
}

fn stop_shared_servers_at_exit() {
    static REGISTERED: OnceLock<()> = OnceLock::new();
    REGISTERED.get_or_init(|| {
        // SAFETY: registers a plain function with no arguments; it only
        // touches statics that stay valid until the process ends.
        let status = unsafe { libc::atexit(stop_shared_servers) };
        assert_eq!(status, 0, "atexit registration failed");
    });
}

/// The standalone server shared by the tests that do not count commands.
pub fn standalone() -> Option<&'static RedisServer> {
    SHARED_SERVER
        .get_or_init(|| {
            available().then(|| {
                stop_shared_servers_at_exit();
                RedisServer::start(&[])
            })
        })
        .as_ref()
}

/// The cluster shared by the cluster tests.
pub fn cluster() -> Option<&'static RedisCluster> {
    SHARED_CLUSTER
        .get_or_init(|| {
            available().then(|| {
                stop_shared_servers_at_exit();
                RedisCluster::start()
            })
        })
        .as_ref()
}

/// Server arguments for durability: every acknowledged write is in the
/// fsynced append-only file.
pub const DURABLE: &[&str] = &["--appendonly", "yes", "--appendfsync", "always"];

/// A cluster of its own for a test that takes nodes down.
pub fn private_cluster(extra: &[&str]) -> Option<RedisCluster> {
    available().then(|| RedisCluster::start_with(extra))
}

/// A server of its own for a test that counts commands or kills it.
pub fn private_server(extra: &[&str]) -> Option<RedisServer> {
    available().then(|| RedisServer::start(extra))
}

/// A key prefix no other test uses.
pub fn unique_prefix() -> String {
    format!("t:{}:", SessionId::generate())
}

/// Test timeouts: generous, so no call fails on a loaded machine (a debug
/// build, tests in parallel, servers kept busy by other tests: long scripts,
/// fsync on every write, large records). A test that measures a bound, or
/// waits for timeouts to happen, sets the short ones it needs itself.
pub fn builder(clock: &MockClock) -> session_redis::RedisStoreBuilder {
    RedisStore::builder()
        .key_prefix(unique_prefix())
        .connect_timeout(Duration::from_secs(2))
        .response_timeout(Duration::from_secs(5))
        .operation_timeout(Duration::from_secs(10))
        .clock(Arc::new(clock.clone()))
}

/// A standalone store on `server` with a unique prefix.
pub fn store_on(server: &RedisServer, clock: &MockClock) -> RedisStore {
    builder(clock).url(server.url()).build().expect("store")
}

/// A cluster store on `cluster` with a unique prefix.
pub fn cluster_store_on(cluster: &RedisCluster, clock: &MockClock) -> RedisStore {
    builder(clock)
        .cluster_urls(cluster.urls())
        .build()
        .expect("store")
}

/// A live record holding `{"count": <count>}` for `lifetime` from the
/// clock's now, bound to `user` when given.
pub fn counter(
    clock: &MockClock,
    count: impl ToString,
    lifetime: Duration,
    user: Option<&str>,
) -> session_core::SessionRecord {
    use session_core::clock::Clock as _;
    let now = clock.now();
    let mut r = session_core::SessionRecord::new(SessionId::generate(), now, now.plus(lifetime));
    r.fields.insert("count", count.to_string());
    r.binding = user.map(|u| Box::new(session_core::Binding::user(u)));
    r
}

/// The ids `store` lists for `user`, in the listing's order.
pub async fn listed(store: &RedisStore, user: &str) -> Vec<session_core::SessionId> {
    use session_core::SessionStore as _;
    let infos = store.list_for_user(user).await.expect("list_for_user");
    infos.into_iter().map(|i| i.id).collect()
}

/// An async admin connection to the whole cluster (slot-routed raw commands).
pub async fn cluster_admin(cluster: &RedisCluster) -> redis::cluster_async::ClusterConnection {
    redis::cluster::ClusterClient::new(cluster.urls())
        .expect("urls")
        .get_async_connection()
        .await
        .expect("cluster admin connection")
}

/// An async admin connection (for `INFO`, `PTTL`, raw writes).
pub async fn admin(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    // Set-up commands (`DEBUG POPULATE`, `MIGRATE`) can outlast the
    // client's default response timeout on a loaded machine.
    let config = redis::AsyncConnectionConfig::new()
        .set_response_timeout(Some(std::time::Duration::from_secs(60)));
    redis::Client::open(server.url())
        .expect("url")
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .expect("admin connection")
}

/// One section of `INFO`.
pub async fn info(conn: &mut redis::aio::MultiplexedConnection, section: &str) -> String {
    redis::cmd("INFO")
        .arg(section)
        .query_async(conn)
        .await
        .expect("INFO")
}

/// `cmdstat_<name>` call counts from `INFO commandstats`.
pub async fn command_counts(
    conn: &mut redis::aio::MultiplexedConnection,
) -> std::collections::BTreeMap<String, u64> {
    info(conn, "commandstats")
        .await
        .lines()
        .filter_map(|line| {
            let (name, rest) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = rest
                .strip_prefix("calls=")?
                .split(',')
                .next()?
                .parse()
                .ok()?;
            Some((name.to_owned(), calls))
        })
        .collect()
}

/// Closes every client connection to the server but `admin`'s own (the
/// stores' connections); how many were closed.
pub async fn kill_client_connections(admin: &mut redis::aio::MultiplexedConnection) -> i64 {
    redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("normal")
        .arg("SKIPME")
        .arg("yes")
        .query_async(admin)
        .await
        .expect("CLIENT KILL")
}

/// Resets `INFO commandstats`.
pub async fn reset_stats(conn: &mut redis::aio::MultiplexedConnection) {
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async(conn)
        .await
        .expect("CONFIG RESETSTAT");
}

/// The node of `cluster` that serves `key`'s slot (the others answer MOVED).
pub async fn owner(cluster: &RedisCluster, key: &str) -> usize {
    for (i, node) in cluster.nodes().iter().enumerate() {
        let mut conn = admin(node).await;
        let served: redis::RedisResult<i64> =
            redis::cmd("EXISTS").arg(key).query_async(&mut conn).await;
        if served.is_ok() {
            return i;
        }
    }
    panic!("no node serves {key}");
}

/// Holds writes back on `server` for `ms` milliseconds (`CLIENT PAUSE ..
/// WRITE`): commands sent meanwhile wait in their sockets. A test that
/// needs the pause in force until some point pauses for long and ends it
/// there with [`unpause`], so a slow machine cannot outlast it.
pub async fn pause_writes(server: &RedisServer, ms: u64) {
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(ms)
        .arg("WRITE")
        .query_async(&mut admin(server).await)
        .await
        .expect("CLIENT PAUSE");
}

/// Ends a pause of `server`'s writes (`CLIENT UNPAUSE`): the commands held
/// back run, in the order they came.
pub async fn unpause(server: &RedisServer) {
    let _: () = redis::cmd("CLIENT")
        .arg("UNPAUSE")
        .query_async(&mut admin(server).await)
        .await
        .expect("CLIENT UNPAUSE");
}

/// How many clients of `server` wait for their command to run
/// (`blocked_clients` of `INFO clients`; a command held back by
/// `CLIENT PAUSE` counts).
pub async fn blocked_clients(server: &RedisServer) -> u64 {
    info(&mut admin(server).await, "clients")
        .await
        .lines()
        .find_map(|line| line.strip_prefix("blocked_clients:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("blocked_clients in INFO clients")
}

/// Waits until at least `n` clients of `server` wait for their command to
/// run (held back by a pause), for at most 10 s.
pub async fn wait_blocked(server: &RedisServer, n: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let blocked = blocked_clients(server).await;
        if blocked >= n {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{blocked} client(s) waiting in Redis after 10 s, not {n}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
