//! A first start on a full disk must not leave behind a file that refuses
//! every later start once the disk has room again.
//!
//! The disk is real: the parent re-runs this test binary under
//! `unshare --mount` (a private mount namespace, so nothing leaks to the
//! host), and the child, [`first_open_on_a_full_disk_process`] (ignored in
//! normal runs), mounts a small tmpfs on a temporary directory, fills it and
//! opens a new store there. Where mount namespaces are not allowed (not
//! root), the test says so and does nothing.

use std::io::Write as _;
use std::path::Path;
use std::process::Command;

use session_core::SessionStore;
use session_file::{FileStore, OpenError};

use crate::support::{HOUR, record};

/// Names the directory the child mounts its small disk on; unset in normal runs.
const FULL_DISK_ENV: &str = "SESSION_FILE_FULL_DISK_DIR";

/// Writes a file until the disk holding `filler` is full.
fn fill_disk(filler: &Path) {
    let mut f = std::fs::File::create(filler).unwrap();
    let chunk = vec![7u8; 4096];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.sync_all();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the child side of a_first_open_on_a_full_disk_leaves_no_file_that_refuses_the_next_start"]
async fn first_open_on_a_full_disk_process() {
    let Ok(dir) = std::env::var(FULL_DISK_ENV) else {
        return;
    };
    let dir = Path::new(&dir);
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(dir)
        .status()
        .unwrap();
    assert!(mounted.success(), "mount tmpfs failed");
    println!("mounted");

    let path = dir.join("sessions.redb");
    let filler = dir.join("filler");
    fill_disk(&filler);

    // The app's first start: the disk is full, the open fails, as it should.
    let first = FileStore::open(&path);
    assert!(
        matches!(first, Err(OpenError::Io { .. })),
        "a first open on a full disk fails with an I/O error: {first:?}"
    );

    // The operator frees space and starts the app again.
    std::fs::remove_file(&filler).unwrap();
    let second = FileStore::open(&path).unwrap_or_else(|e| {
        let len = std::fs::metadata(&path).map(|m| m.len()).ok();
        panic!(
            "the start after the disk was freed fails: {e:?}; \
             the failed first open left a file of {len:?} bytes behind"
        )
    });
    let r = record(second.now(), HOUR, Some("ada"));
    second.create(&r).await.unwrap();
    assert_eq!(second.load(&r.id).await.unwrap(), Some(r));
    println!("verified");
}

#[cfg(target_os = "linux")]
#[test]
fn a_first_open_on_a_full_disk_leaves_no_file_that_refuses_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let output = match Command::new("unshare")
        .args(["--mount", "--propagation", "private"])
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "full_disk::first_open_on_a_full_disk_process",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(FULL_DISK_ENV, dir.path())
        .output()
    {
        Ok(output) => output,
        Err(error) => {
            eprintln!("skipped: cannot run unshare: {error}");
            return;
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !stdout.contains("mounted") {
        eprintln!("skipped: no private mount namespace with a tmpfs here:\n{stderr}");
        return;
    }
    assert!(
        output.status.success() && stdout.contains("verified"),
        "the full-disk process failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
}
