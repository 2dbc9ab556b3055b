//! A first start on a full disk must not leave behind a file that refuses
//! every later start once the disk has room again, and must remove only
//! what it created.
//!
//! The disk is real: the parent re-runs this test binary under
//! `unshare --mount` (a private mount namespace, so nothing leaks to the
//! host), and the child (an ignored test) mounts a 1 MiB tmpfs on a
//! temporary directory, fills it and opens a new store there. Where mount
//! namespaces are not allowed (not root), the test says so and does nothing.

use std::io::Write as _;
use std::path::Path;
use std::process::Command;

use session_core::SessionStore;
use session_file::{FileStore, OpenError};

use crate::support::{HOUR, record};

/// Names the directory the child works in; unset in normal runs.
const FULL_DISK_ENV: &str = "SESSION_FILE_FULL_DISK_DIR";

/// The directory a child runs in, with a full 1 MiB disk mounted on `disk`
/// under it; `None` outside the parent's re-run.
fn full_disk_child(disk: &str) -> Option<std::path::PathBuf> {
    let dir = std::path::PathBuf::from(std::env::var(FULL_DISK_ENV).ok()?);
    let mount_point = dir.join(disk);
    std::fs::create_dir_all(&mount_point).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&mount_point)
        .status()
        .unwrap();
    assert!(mounted.success(), "mount tmpfs failed");
    println!("mounted");
    fill_disk(&mount_point.join("filler"));
    Some(dir)
}

/// Writes a file until the disk holding `filler` is full.
fn fill_disk(filler: &Path) {
    let mut f = std::fs::File::create(filler).unwrap();
    let chunk = vec![7u8; 4096];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.sync_all();
}

/// Runs the ignored test `child` of this binary in a private mount
/// namespace and checks it verified what it tests; says so and passes
/// where such namespaces are not allowed.
fn run_child(child: &str) {
    let dir = tempfile::tempdir().unwrap();
    let output = match Command::new("unshare")
        .args(["--mount", "--propagation", "private"])
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            child,
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
        "{child} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the child side of a_first_open_on_a_full_disk_leaves_no_file_that_refuses_the_next_start"]
async fn first_open_on_a_full_disk_process() {
    let Some(dir) = full_disk_child("") else {
        return;
    };
    let path = dir.join("sessions.redb");

    // The app's first start: the disk is full, the open fails, as it should.
    let first = FileStore::open(&path);
    assert!(
        matches!(first, Err(OpenError::Io { .. })),
        "a first open on a full disk fails with an I/O error: {first:?}"
    );

    // The operator frees space and starts the app again.
    std::fs::remove_file(dir.join("filler")).unwrap();
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
    run_child("full_disk::first_open_on_a_full_disk_process");
}

/// The store path is the operator's symlink to where the database should
/// live (another disk), not yet created: the failed open must not remove
/// the link, which it did not create.
#[test]
#[ignore = "the child side of a_failed_first_open_keeps_the_operators_symlink"]
fn symlink_to_a_full_disk_process() {
    let Some(dir) = full_disk_child("disk") else {
        return;
    };
    let target = dir.join("disk").join("sessions.redb");
    let link = dir.join("sessions.redb");
    std::os::unix::fs::symlink(&target, &link).unwrap();

    let first = FileStore::open(&link);
    assert!(first.is_err(), "the open on a full disk fails");
    let kept = std::fs::symlink_metadata(&link).map(|m| m.file_type().is_symlink());
    assert!(
        matches!(kept, Ok(true)),
        "the failed open removed the operator's symlink {} (it did not create it): {kept:?}; target left: {:?}",
        link.display(),
        std::fs::metadata(&target).map(|m| m.len()).ok()
    );
    println!("verified");
}

#[cfg(target_os = "linux")]
#[test]
fn a_failed_first_open_keeps_the_operators_symlink() {
    run_child("full_disk::symlink_to_a_full_disk_process");
}
