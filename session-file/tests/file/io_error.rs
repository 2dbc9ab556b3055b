//! A store whose disk refuses a write recovers by itself once the disk works
//! again, with every committed session intact.
//!
//! The failure is real: the parent re-runs this test binary with
//! [`FAULTY_ENV`] set, running only [`faulty_disk_process`] (ignored in
//! normal runs), which lowers its own file size limit to zero so that every
//! write to the database file fails with `EFBIG`, then raises it again.
//! A child process keeps the limit away from the other tests.

use std::process::Command;
use std::time::Duration;

use session_core::{SaveOutcome, SessionId, SessionStore};
use session_file::FileStore;

use crate::support::{HOUR, record, set_field};

/// Names the database file of the child; unset in normal runs.
const FAULTY_ENV: &str = "SESSION_FILE_IO_TEST_DB";

/// Sets the soft limit on the size of files this process writes, returning
/// the previous one.
fn limit_file_size(limit: libc::rlim_t) -> libc::rlim_t {
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `getrlimit` and `setrlimit` only read and write the structs
    // passed by reference, which live across the calls.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_FSIZE, &mut old), 0);
        let new = libc::rlimit {
            rlim_cur: limit,
            rlim_max: old.rlim_max,
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &new), 0);
    }
    old.rlim_cur
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the faulty-disk side of a_store_recovers_after_its_disk_refused_a_write, run as its child process"]
async fn faulty_disk_process() {
    let Ok(path) = std::env::var(FAULTY_ENV) else {
        return;
    };
    // A write past the size limit also raises SIGXFSZ, which would end the process.
    // SAFETY: sets the disposition of one signal to "ignore"; no handler runs.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let store = FileStore::builder(&path)
        .without_cleanup()
        .reopen_interval(Duration::from_millis(50))
        .open()
        .expect("open store");
    let now = store.now();
    let kept = record(now, HOUR, Some("ada"));
    store.create(&kept).await.expect("create before the fault");

    let previous = limit_file_size(0);
    let refused = store
        .save(&kept.id, &set_field(now, "count", "2"))
        .await
        .expect_err("a write the disk refuses is not acknowledged");
    assert!(refused.is_unavailable(), "{refused}");
    // While the disk still fails, a load is an error or the committed
    // record; never "no such session", which would start a new one.
    match store.load(&kept.id).await {
        Err(error) => assert!(error.is_unavailable(), "{error}"),
        Ok(loaded) => assert_eq!(loaded.as_ref(), Some(&kept)),
    }
    limit_file_size(previous);

    let mut attempts = 0;
    let loaded = loop {
        match store.load(&kept.id).await {
            Ok(loaded) => break loaded,
            Err(error) if error.is_unavailable() && attempts < 100 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => panic!("the store did not recover: {error}"),
        }
    };
    // The refused save never landed; the committed record is intact.
    assert_eq!(loaded.as_ref(), Some(&kept));
    assert_eq!(
        store
            .save(&kept.id, &set_field(store.now(), "count", "2"))
            .await
            .expect("save after recovery"),
        SaveOutcome::Saved
    );
    let added = record(store.now(), HOUR, Some("ada"));
    store.create(&added).await.expect("create after recovery");
    println!("recovered {} {}", kept.id, added.id);
}

#[test]
fn a_store_recovers_after_its_disk_refused_a_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("faulty.redb");
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "io_error::faulty_disk_process",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(FAULTY_ENV, &path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the faulty-disk process failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let ids: Vec<SessionId> = stdout
        .lines()
        .find_map(|line| line.split_once("recovered ").map(|(_, ids)| ids))
        .unwrap_or_else(|| panic!("no report from the faulty-disk process:\n{stdout}"))
        .split_whitespace()
        .map(|id| id.parse().unwrap())
        .collect();

    // Everything acknowledged after the recovery is on disk.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = FileStore::builder(&path).without_cleanup().open().unwrap();
        let kept = store.load(&ids[0]).await.unwrap().expect("kept session");
        assert_eq!(kept.fields.get("count"), Some("2"));
        assert!(store.load(&ids[1]).await.unwrap().is_some());
        assert_eq!(store.list_for_user("ada").await.unwrap().len(), 2);
    });
}
