//! `MONITOR` capture: what the store sends, and what its scripts run.

use std::time::Duration;

use futures_util::StreamExt as _;
use redis::aio::ConnectionLike;
use session_core::SessionId;
use tokio::sync::mpsc;

/// One command as `MONITOR` printed it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Run by a script (`[0 lua]`), not sent by a client.
    pub from_script: bool,
    /// The command name (lower case) and its arguments.
    pub args: Vec<String>,
}

impl Seen {
    /// The command name, lower case.
    pub fn name(&self) -> String {
        self.args
            .first()
            .map(|s| s.to_lowercase())
            .unwrap_or_default()
    }

    /// Whether any argument contains `text`.
    pub fn mentions(&self, text: &str) -> bool {
        self.args.iter().any(|a| a.contains(text))
    }
}

/// A `MONITOR` connection to one server.
pub struct Monitor {
    lines: mpsc::UnboundedReceiver<String>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Monitor {
    /// Starts monitoring the server at `url`.
    pub async fn start(url: &str) -> Self {
        let monitor = redis::Client::open(url)
            .expect("url")
            .get_async_monitor()
            .await
            .expect("MONITOR");
        let mut stream = monitor.into_on_message::<String>();
        let (tx, lines) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            while let Some(line) = stream.next().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { lines, task }
    }

    /// The commands seen since the last call: sends a marker through
    /// `admin` (a connection to the same server) and reads up to it.
    pub async fn take(&mut self, admin: &mut impl ConnectionLike) -> Vec<Seen> {
        let marker = format!("marker-{}", SessionId::generate());
        let _: String = redis::cmd("ECHO")
            .arg(&marker)
            .query_async(admin)
            .await
            .expect("ECHO");
        let mut out = Vec::new();
        loop {
            let line = tokio::time::timeout(Duration::from_secs(5), self.lines.recv())
                .await
                .expect("monitor line in time")
                .expect("monitor open");
            if line.contains(&marker) {
                return out;
            }
            out.extend(parse(&line));
        }
    }
}

/// `1700000000.123456 [0 127.0.0.1:5555] "hset" "key" "f" "v"`.
fn parse(line: &str) -> Option<Seen> {
    let open = line.find('[')?;
    let close = open + line[open..].find(']')?;
    let from_script = line[open + 1..close].ends_with("lua");
    let mut args = Vec::new();
    let mut chars = line[close + 1..].chars();
    while let Some(c) = chars.next() {
        if c != '"' {
            continue;
        }
        let mut arg = String::new();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => {
                    if let Some(next) = chars.next() {
                        arg.push(next);
                    }
                }
                c => arg.push(c),
            }
        }
        args.push(arg);
    }
    Some(Seen { from_script, args })
}

/// Client-sent commands (names), in order.
pub fn sent(seen: &[Seen]) -> Vec<String> {
    seen.iter()
        .filter(|s| !s.from_script)
        .map(Seen::name)
        .collect()
}

/// Commands run inside scripts (names), in order.
pub fn scripted(seen: &[Seen]) -> Vec<String> {
    seen.iter()
        .filter(|s| s.from_script)
        .map(Seen::name)
        .collect()
}

#[test]
fn monitor_lines_parse() {
    let seen = parse(r#"1700000000.123456 [0 lua] "hset" "p:s:{x}" "f:a" "\"v\"""#).unwrap();
    assert!(seen.from_script);
    assert_eq!(seen.args, ["hset", "p:s:{x}", "f:a", "\"v\""]);
    let seen = parse(r#"1.5 [0 127.0.0.1:5555] "HGETALL" "k""#).unwrap();
    assert!(!seen.from_script);
    assert_eq!(seen.name(), "hgetall");
}
