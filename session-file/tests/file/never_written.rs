//! A first start that stopped (a crash, a kill, a power cut) after the
//! database engine sized the new file and before it wrote the file's header
//! leaves a file of zeros, which is no database and holds nothing. The next
//! start creates a new database in its place; a file holding anything else
//! is refused as before and left exactly as it was.

use session_core::clock::Clock as _;
use session_core::{MockClock, SessionStore};
use session_file::{FileStore, OpenError};

use crate::support::{HOUR, open_at, record, temp_path};

/// The length redb 4.6 gives a new file, with its default page size, before
/// it writes the header: the first thing a new database's open does to it.
const NEW_FILE_LEN: usize = 72 * 1024;

/// A store opens at `path`, keeps a session across a restart, and lists it.
async fn sessions_round_trip(path: &std::path::Path) {
    let clock = MockClock::starting_now();
    let r = record(clock.now(), HOUR, Some("ada"));
    {
        let store = open_at(path, &clock);
        store.create(&r).await.unwrap();
    }
    let store = open_at(path, &clock);
    assert_eq!(store.load(&r.id).await.unwrap(), Some(r.clone()));
    assert_eq!(store.list_for_user("ada").await.unwrap()[0].id, r.id);
}

/// Opening `bytes` at a store path fails with `OpenError::Database` and
/// leaves the file byte for byte as it was.
fn refused_and_left_alone(bytes: &[u8], what: &str) {
    let (_dir, path) = temp_path();
    std::fs::write(&path, bytes).unwrap();
    let opened = FileStore::builder(&path).without_cleanup().open();
    assert!(
        matches!(opened, Err(OpenError::Database { .. })),
        "{what}: {opened:?}"
    );
    assert!(
        std::fs::read(&path).unwrap() == bytes,
        "{what}: the refused file was changed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_of_zeros_left_by_a_first_start_becomes_a_new_store() {
    for len in [NEW_FILE_LEN, 1, 4096, 3 * NEW_FILE_LEN] {
        let (_dir, path) = temp_path();
        std::fs::write(&path, vec![0u8; len]).unwrap();
        let opened = FileStore::builder(&path).without_cleanup().open();
        assert!(
            opened.is_ok(),
            "a file of {len} zero bytes does not open: {opened:?}"
        );
        drop(opened);
        sessions_round_trip(&path).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_file_becomes_a_new_store() {
    let (_dir, path) = temp_path();
    std::fs::write(&path, b"").unwrap();
    sessions_round_trip(&path).await;
}

/// The store path is an operator's link to where the database lives: the
/// file of zeros behind it becomes the database, and the link stays a link.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_of_zeros_behind_a_symlink_becomes_a_new_store() {
    let (dir, link) = temp_path();
    let target = dir.path().join("elsewhere.redb");
    std::fs::write(&target, vec![0u8; NEW_FILE_LEN]).unwrap();
    std::os::unix::fs::symlink(&target, &link).unwrap();
    sessions_round_trip(&link).await;
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(
        FileStore::open(&target).is_ok(),
        "the database is the link's target"
    );
}

#[test]
fn a_file_of_zeros_but_one_byte_is_refused_and_left_alone() {
    for at in [0, 1, 9, 319, 4096, NEW_FILE_LEN / 2, NEW_FILE_LEN - 1] {
        for byte in [1u8, 0x80, 0xff] {
            let mut bytes = vec![0u8; NEW_FILE_LEN];
            bytes[at] = byte;
            refused_and_left_alone(&bytes, &format!("{byte:#x} at {at}"));
        }
    }
}

#[test]
fn a_file_of_garbage_is_refused_and_left_alone() {
    let garbage: Vec<u8> = (0..NEW_FILE_LEN)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8)
        .collect();
    refused_and_left_alone(&garbage, "garbage");
    refused_and_left_alone(b"not a database\n", "text");
}

/// A file of zeros much longer than a new database's is not one a first
/// start left behind: it is refused, not read to its end and replaced.
#[test]
fn a_file_of_zeros_longer_than_a_new_database_is_refused_and_left_alone() {
    let (_dir, path) = temp_path();
    let len = 64 << 20;
    std::fs::File::create(&path).unwrap().set_len(len).unwrap();
    let opened = FileStore::builder(&path).without_cleanup().open();
    assert!(
        matches!(opened, Err(OpenError::Database { .. })),
        "{opened:?}"
    );
    assert_eq!(std::fs::metadata(&path).unwrap().len(), len);
}

/// The store still refuses to open a file of zeros while another store
/// holds the path: a second start never replaces a database in use.
#[test]
fn a_second_open_after_recovering_a_file_of_zeros_is_locked() {
    let (_dir, path) = temp_path();
    std::fs::write(&path, vec![0u8; NEW_FILE_LEN]).unwrap();
    let first = FileStore::builder(&path).without_cleanup().open().unwrap();
    let second = FileStore::builder(&path).without_cleanup().open();
    assert!(
        matches!(second, Err(OpenError::Locked { .. })),
        "{second:?}"
    );
    drop(first);
}
