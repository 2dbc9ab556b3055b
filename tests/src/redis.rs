//! Redis server processes for tests: started on free loopback ports, stopped
//! by process id (a `Drop` guard, plus a watchdog process that outlives the
//! test binary should it die without running its exit handlers).

use std::io::Write as _;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

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
                "\nSKIPPING the Redis tests: `redis-server`/`redis-cli` not found on PATH \
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
        "session-tests-redis-{}-{}-{tag}",
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
    /// Starts a server on a free port with `extra` arguments. The port is
    /// free when chosen but not held: should another process take it
    /// first, this server exits, and another port is tried.
    pub fn start(extra: &[&str]) -> Self {
        let mut failures = Vec::new();
        for _ in 0..5 {
            let port = free_port();
            let server = Self {
                port,
                dir: scratch_dir(&port.to_string()),
                args: extra.iter().map(|s| (*s).to_owned()).collect(),
                processes: Mutex::default(),
            };
            match server.spawn() {
                Ok(()) => return server,
                Err(failure) => failures.push(failure),
            }
        }
        panic!("redis-server did not start: {failures:?}");
    }

    fn processes(&self) -> MutexGuard<'_, Processes> {
        self.processes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts the process and waits until it answers, as itself.
    fn spawn(&self) -> Result<(), String> {
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
        let pid = server.id();
        *self.processes() = Processes {
            server: Some(server),
            watchdog: Some(watchdog),
        };
        let ready = wait_ready(self.port, pid, Duration::from_secs(10), || {
            self.processes()
                .server
                .as_mut()
                .is_some_and(|child| matches!(child.try_wait(), Ok(Some(_))))
        });
        if ready.is_err() {
            self.kill();
        }
        ready
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
        for mut child in [processes.server.take(), processes.watchdog.take()]
            .into_iter()
            .flatten()
        {
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
        if let Err(failure) = self.spawn() {
            panic!("redis-server did not restart: {failure}");
        }
    }

    /// Stops the server and removes its directory.
    pub fn stop(&self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Waits until the server on `port` answers as process `pid` (not
/// `LOADING`, and not another server that took the port first); fails at
/// once when `exited` says the process is gone.
fn wait_ready(
    port: u16,
    pid: u32,
    limit: Duration,
    exited: impl Fn() -> bool,
) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    let url = format!("redis://127.0.0.1:{port}/");
    let own = format!("process_id:{pid}");
    loop {
        if exited() {
            return Err(format!("redis-server on port {port} exited (port taken?)"));
        }
        // INFO answers while loading; PING only once loaded.
        let answer = redis::Client::open(url.as_str())
            .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(200)))
            .and_then(|mut c| {
                let info = redis::cmd("INFO").arg("server").query::<String>(&mut c)?;
                let own_pid = info.lines().any(|line| line.trim() == own);
                Ok(own_pid && redis::cmd("PING").query::<String>(&mut c).is_ok())
            });
        match answer {
            Ok(true) => return Ok(()),
            Err(_) | Ok(false) if Instant::now() < deadline => {}
            Ok(false) => return Err(format!("port {port} answers, not as process {pid}")),
            Err(error) => return Err(format!("redis-server on port {port}: {error}")),
        }
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
