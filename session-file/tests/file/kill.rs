//! A writer process killed with SIGKILL mid-write loses no acknowledged write
//! and leaves no torn record.
//!
//! The parent re-runs this test binary with [`WRITER_ENV`] set, running only
//! [`writer_process`] (ignored in normal runs). The child writes sessions in
//! [`WRITERS`] concurrent loops, so that writes share commits, and prints
//! `acknowledged ...` after each write returned; the parent kills it right
//! after reading a number of those lines, reopens the file and checks every
//! acknowledged write. While the child runs, the parent also checks that it
//! cannot open the file itself.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use session_core::{
    Binding, SaveOutcome, SessionId, SessionPatch, SessionRecord, SessionStore, Timestamp,
};
use session_file::{FileStore, OpenError};

/// Names the database file the child writes to; unset in normal runs.
const WRITER_ENV: &str = "SESSION_FILE_KILL_TEST_DB";
const USER: &str = "killed";
/// Concurrent write loops in the child: each has at most one write in flight.
const WRITERS: usize = 4;

fn blob(i: u64) -> String {
    // Records of varied size, some spanning several pages.
    let len = usize::try_from(64 + (i * 977) % 9000).unwrap_or(64);
    format!("\"{}\"", "k".repeat(len))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the writer side of acknowledged_writes_survive_sigkill, run as its child process"]
async fn writer_process() {
    let Ok(path) = std::env::var(WRITER_ENV) else {
        return;
    };
    let store = FileStore::builder(&path)
        .without_cleanup()
        .open()
        .expect("writer opens the store");
    let loops: Vec<_> = (0..WRITERS)
        .map(|writer| tokio::spawn(write_loop(store.clone(), writer)))
        .collect();
    for writer in loops {
        writer.await.unwrap();
    }
}

/// One of the child's write loops: creates a session, saves it a few times,
/// creates the next, and so on, printing each acknowledged write.
async fn write_loop(store: FileStore, writer: usize) {
    let mut current: Option<(SessionId, u64)> = None;
    // Bounded, but far more than the parent waits for before killing.
    for i in 0..50_000u64 {
        let now = store.now();
        let line = match current {
            Some((id, n)) if i % 4 != 0 => {
                let patch = SessionPatch {
                    set_fields: [("n", (n + 1).to_string()), ("blob", blob(i))]
                        .into_iter()
                        .collect(),
                    last_seen: now,
                    ..SessionPatch::default()
                };
                assert_eq!(store.save(&id, &patch).await.unwrap(), SaveOutcome::Saved);
                current = Some((id, n + 1));
                format!("acknowledged {writer} save {id} {}", n + 1)
            }
            _ => {
                let mut r = SessionRecord::new(
                    SessionId::generate(),
                    now,
                    now.plus(Duration::from_secs(3600)),
                );
                r.fields.insert("n", "0");
                r.fields.insert("blob", blob(i));
                r.binding = Some(Box::new(Binding::user(USER)));
                store.create(&r).await.unwrap();
                current = Some((r.id, 0));
                format!("acknowledged {writer} create {}", r.id)
            }
        };
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}").unwrap();
        out.flush().unwrap();
    }
}

/// What the parent knows was acknowledged.
#[derive(Default)]
struct Acknowledged {
    /// Session → last acknowledged value of `n`.
    sessions: HashMap<SessionId, u64>,
    /// The session each write loop wrote last (its next write may have
    /// landed unacknowledged).
    last: HashMap<usize, SessionId>,
    count: usize,
}

impl Acknowledged {
    fn take(&mut self, line: &str) -> bool {
        let mut words = line.split_whitespace();
        if words.next() != Some("acknowledged") {
            return false;
        }
        let writer: usize = words
            .next()
            .and_then(|w| w.parse().ok())
            .unwrap_or_else(|| panic!("bad line {line:?}"));
        let kind = words.next();
        let id: SessionId = words
            .next()
            .and_then(|w| w.parse().ok())
            .unwrap_or_else(|| panic!("bad line {line:?}"));
        let n = match kind {
            Some("create") => 0,
            Some("save") => words
                .next()
                .and_then(|w| w.parse().ok())
                .unwrap_or_else(|| panic!("bad line {line:?}")),
            _ => panic!("bad line {line:?}"),
        };
        self.sessions.insert(id, n);
        self.last.insert(writer, id);
        self.count += 1;
        true
    }
}

/// Kills the child if the parent fails half way, so no writer outlives the test.
struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[cfg(unix)]
#[test]
fn acknowledged_writes_survive_sigkill() {
    use std::os::unix::process::ExitStatusExt as _;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("killed.redb");
    let exe = std::env::current_exe().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut acked = Acknowledged::default();

    for kill_after in [40, 150, 7, 90] {
        let child = Command::new(&exe)
            .args([
                "--exact",
                "kill::writer_process",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(WRITER_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut child = Reap(child);
        let stdout = child.0.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let before = acked.count;
        let mut killed = false;
        for line in lines.by_ref() {
            if !acked.take(&line.unwrap()) {
                continue;
            }
            if acked.count - before == 1 {
                // While the writer runs, this process cannot open the file.
                match FileStore::builder(&path).without_cleanup().open() {
                    Err(OpenError::Locked { .. }) => {}
                    other => panic!("expected Locked while another process writes, got {other:?}"),
                }
            }
            if acked.count - before == kill_after {
                child.0.kill().unwrap();
                killed = true;
                break;
            }
        }
        // Lines already in the pipe are acknowledged writes too.
        for line in lines {
            acked.take(&line.unwrap());
        }
        let status = child.0.wait().unwrap();
        if !killed {
            let mut err = String::new();
            if let Some(mut stderr) = child.0.stderr.take() {
                stderr.read_to_string(&mut err).ok();
            }
            panic!("the writer ended before it was killed ({status:?}):\n{err}");
        }
        assert_eq!(status.signal(), Some(9), "the writer was not killed");

        runtime.block_on(verify(&path, &mut acked));
    }
}

async fn verify(path: &std::path::Path, acked: &mut Acknowledged) {
    let store = FileStore::builder(path)
        .without_cleanup()
        .open()
        .expect("the file opens after a kill");
    let check = store.check().await.unwrap();
    assert_eq!(check.corrupt, 0, "torn record: {check:?}");
    assert!(check.is_consistent(), "{check:?}");
    // At most one write per loop was in flight: creates not yet acknowledged.
    let records = usize::try_from(store.stats().await.unwrap().records).unwrap();
    let created = acked.sessions.len();
    assert!(
        (created..=created + WRITERS).contains(&records),
        "{records} records for {created} acknowledged creates"
    );
    for (id, n) in &mut acked.sessions {
        let record = store
            .load(id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("acknowledged session {id:?} lost"));
        let stored: u64 = record.fields.get("n").unwrap().parse().unwrap();
        let in_flight = acked.last.values().any(|last| last == id) && stored == *n + 1;
        assert!(
            stored == *n || in_flight,
            "session {id:?} has n={stored}, acknowledged {n}"
        );
        // The in-flight write landed: later rounds, which write other
        // sessions last, must find it too.
        *n = stored;
        assert!(record.fields.get("blob").is_some_and(|b| b.len() >= 64));
        assert!(record.expires_at > Timestamp::EPOCH);
    }
    let listed = store.list_for_user(USER).await.unwrap();
    assert!(listed.len() >= created);
    for id in acked.sessions.keys() {
        assert!(listed.iter().any(|i| i.id == *id), "user index lost {id:?}");
    }
}
