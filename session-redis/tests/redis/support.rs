//! Redis server processes for the tests: started on free loopback ports,
//! stopped by process id (by a `Drop` guard, and by a watchdog process that
//! outlives the test binary for the servers shared through statics).

use std::io::Write as _;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use session_core::{MockClock, SessionId};
use session_redis::RedisStore;

/// Whether the Redis tests can run here. Missing `redis-server` fails under
/// `CI=true` and skips (with a notice) elsewhere.
pub fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        let found = ["redis-server", "redis-cli"].iter().all(|tool| {
            Command::new(tool)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
        if !found {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "redis-server and redis-cli are required when CI=true (install the redis-server package)"
            );
            // Written past the test harness's output capture, so it shows.
            let _ = writeln!(
                std::io::stderr(),
                "\nsession-redis: SKIPPING the Redis tests: `redis-server`/`redis-cli` not found on PATH \
                 (install the redis-server package; with CI=true this is a failure)\n"
            );
        }
        found
    })
}

fn port_is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// A free loopback port whose cluster bus port (+10000) is free too.
pub fn free_port() -> u16 {
    for _ in 0..200 {
        let Ok(listener) = TcpListener::bind(("127.0.0.1", 0)) else {
            continue;
        };
        let Ok(addr) = listener.local_addr() else {
            continue;
        };
        let port = addr.port();
        drop(listener);
        if port < 55_000 && port_is_free(port + 10_000) {
            return port;
        }
    }
    panic!("no free port pair found");
}

fn scratch_dir(tag: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "session-redis-{}-{}-{tag}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// One `redis-server` child process.
pub struct RedisServer {
    port: u16,
    dir: PathBuf,
    args: Vec<String>,
    processes: Mutex<Processes>,
}

#[derive(Default)]
struct Processes {
    server: Option<Child>,
    watchdog: Option<Child>,
}

impl RedisServer {
    /// Starts a server on a free port with `extra` arguments.
    pub fn start(extra: &[&str]) -> Self {
        let port = free_port();
        let dir = scratch_dir(&port.to_string());
        let server = Self {
            port,
            dir,
            args: extra.iter().map(|s| (*s).to_owned()).collect(),
            processes: Mutex::default(),
        };
        server.spawn();
        server
    }

    fn processes(&self) -> MutexGuard<'_, Processes> {
        self.processes.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn spawn(&self) {
        let server = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--protected-mode", "no"])
            .args(["--daemonize", "no", "--save", "", "--logfile", ""])
            .arg("--dir")
            .arg(&self.dir)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        // Stops the server by its pid should this test process die without
        // running its exit handlers (killed, aborted).
        let watchdog = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "while kill -0 {parent} 2>/dev/null; do sleep 0.2; done; kill -9 {pid} 2>/dev/null; rm -rf '{dir}'",
                parent = std::process::id(),
                pid = server.id(),
                dir = self.dir.display()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("watchdog starts");
        *self.processes() = Processes {
            server: Some(server),
            watchdog: Some(watchdog),
        };
        wait_ready(self.port, Duration::from_secs(10));
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of the server.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kills the server (SIGKILL, by pid: no shutdown, no final save) and
    /// its watchdog, and reaps both.
    pub fn kill(&self) {
        let mut processes = self.processes();
        for child in [processes.server.take(), processes.watchdog.take()]
            .into_iter()
            .flatten()
        {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends `signal` (`STOP`, `CONT`) to the server, by pid.
    pub fn signal(&self, signal: &str) {
        let pid = self
            .processes()
            .server
            .as_ref()
            .expect("server running")
            .id();
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} {pid} failed");
    }

    /// Starts the server again on the same port and directory.
    pub fn restart(&self) {
        self.kill();
        self.spawn();
    }

    /// Stops the server and removes its directory.
    fn stop(&self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Waits until the server answers `PING` (not `LOADING`).
fn wait_ready(port: u16, limit: Duration) {
    let deadline = Instant::now() + limit;
    let url = format!("redis://127.0.0.1:{port}/");
    loop {
        let pong = redis::Client::open(url.as_str())
            .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(200)))
            .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
        if pong.is_ok() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "redis-server on port {port} did not start: {pong:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A 3-master Redis Cluster.
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts three cluster-enabled servers and joins them.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts three cluster-enabled servers with `extra` arguments and joins them.
    pub fn start_with(extra: &[&str]) -> Self {
        let mut args = vec![
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            "2000",
        ];
        args.extend_from_slice(extra);
        let nodes: Vec<RedisServer> = (0..3).map(|_| RedisServer::start(&args)).collect();
        let addresses: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port()))
            .collect();
        let output = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("redis-cli runs");
        assert!(
            output.status.success(),
            "cluster create failed: {}",
            String::from_utf8_lossy(&output.stdout)
        );
        let cluster = Self { nodes };
        cluster.wait_healthy(Duration::from_secs(15));
        cluster
    }

    /// Waits until every node reports the cluster healthy.
    pub fn wait_healthy(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        for node in &self.nodes {
            loop {
                let info: String = redis::Client::open(node.url())
                    .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(200)))
                    .and_then(|mut c| redis::cmd("CLUSTER").arg("INFO").query(&mut c))
                    .unwrap_or_default();
                if info.contains("cluster_state:ok") && info.contains("cluster_known_nodes:3") {
                    break;
                }
                assert!(Instant::now() < deadline, "cluster did not become healthy");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// The node URLs.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// The nodes.
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }
}

static SHARED_SERVER: OnceLock<Option<RedisServer>> = OnceLock::new();
static SHARED_CLUSTER: OnceLock<Option<RedisCluster>> = OnceLock::new();

/// Stops the shared servers when the test binary exits (statics are never
/// dropped), reaping them so no process is left behind, not even a zombie.
extern "C" fn stop_shared_servers() {
    if let Some(Some(server)) = SHARED_SERVER.get() {
        server.stop();
    }
    if let Some(Some(cluster)) = SHARED_CLUSTER.get() {
        for node in &cluster.nodes {
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

/// Test timeouts: short, so outage tests are quick.
pub fn builder(clock: &MockClock) -> session_redis::RedisStoreBuilder {
    RedisStore::builder()
        .key_prefix(unique_prefix())
        .connect_timeout(Duration::from_millis(300))
        .response_timeout(Duration::from_millis(500))
        .operation_timeout(Duration::from_millis(1500))
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

/// An async admin connection (for `INFO`, `PTTL`, raw writes).
pub async fn admin(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(server.url())
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("admin connection")
}

/// `cmdstat_<name>` call counts from `INFO commandstats`.
pub async fn command_counts(
    conn: &mut redis::aio::MultiplexedConnection,
) -> std::collections::BTreeMap<String, u64> {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(conn)
        .await
        .expect("INFO");
    info.lines()
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

/// Resets `INFO commandstats`.
pub async fn reset_stats(conn: &mut redis::aio::MultiplexedConnection) {
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async(conn)
        .await
        .expect("CONFIG RESETSTAT");
}
