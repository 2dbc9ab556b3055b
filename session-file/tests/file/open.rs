//! Opening: parent directories, locks, foreign and damaged files, limits.

use std::sync::Arc;

use redb::{Database, ReadableDatabase as _, TableDefinition};
use session_core::clock::Clock as _;
use session_core::{Binding, MockClock, PageRequest, SaveOutcome, SessionStore, StoreError};
use session_file::{FileStore, OpenError};

use crate::support::{HOUR, record, set_field, temp_path};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_creates_parent_directories() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a").join("b").join("sessions.redb");
    let store = FileStore::open(&path).unwrap();
    assert_eq!(store.path(), path);
    assert!(path.exists());
}

/// The file holds user names and session data: only its owner reads a new
/// one, and one an operator opened up keeps its mode.
#[cfg(unix)]
#[test]
fn a_new_file_is_its_owners_alone_and_an_existing_one_keeps_its_mode() {
    use std::os::unix::fs::PermissionsExt as _;
    let (_dir, path) = temp_path();
    let mode = || std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    drop(FileStore::open(&path).unwrap());
    assert_eq!(mode(), 0o600);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    drop(FileStore::open(&path).unwrap());
    assert_eq!(mode(), 0o640);
}

#[test]
fn a_second_open_of_the_same_file_is_locked() {
    let (_dir, path) = temp_path();
    let store = FileStore::open(&path).unwrap();
    match FileStore::open(&path) {
        Err(OpenError::Locked { path: locked }) => assert_eq!(locked, path),
        other => panic!("expected Locked, got {other:?}"),
    }
    let err: StoreError = FileStore::open(&path).unwrap_err().into();
    assert!(err.is_unavailable());
    drop(store);
    FileStore::open(&path).expect("open again after the first closed");
}

#[test]
fn a_file_that_is_not_a_database_is_refused() {
    let (_dir, path) = temp_path();
    std::fs::write(
        &path,
        b"this is not a session database, just some text\n".repeat(200),
    )
    .unwrap();
    let err = FileStore::open(&path).unwrap_err();
    assert!(matches!(err, OpenError::Database { .. }), "{err:?}");
    assert!(err.to_string().contains("sessions.redb"), "{err}");
}

#[test]
fn a_directory_is_not_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let err = FileStore::open(dir.path()).unwrap_err();
    assert!(matches!(err, OpenError::Io { .. }), "{err:?}");
}

#[test]
fn another_applications_database_is_refused() {
    let (_dir, path) = temp_path();
    {
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut t = txn
                .open_table(TableDefinition::<&str, u64>::new("orders"))
                .unwrap();
            t.insert("a", 1).unwrap();
        }
        txn.commit().unwrap();
    }
    let err = FileStore::open(&path).unwrap_err();
    assert!(matches!(err, OpenError::Layout { .. }), "{err:?}");
}

/// The crate docs: "a layout version that a newer, incompatible build would
/// refuse rather than misread". A file of this store written by another
/// layout version is refused, and left as it was: its sessions are neither
/// read as something else nor cleaned away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_of_another_layout_version_is_refused_and_left_as_it_is() {
    let (_dir, path) = temp_path();
    let clock = MockClock::starting_now();
    let kept = record(clock.now(), HOUR, Some("ada"));
    {
        let store = FileStore::builder(&path)
            .clock(Arc::new(clock.clone()))
            .open()
            .unwrap();
        store.create(&kept).await.unwrap();
    }
    let layout = TableDefinition::<&str, u32>::new("layout");
    let set_version = |version: u32| {
        let db = Database::open(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(layout)
            .unwrap()
            .insert("version", version)
            .unwrap();
        txn.commit().unwrap();
    };
    set_version(2);
    let err = FileStore::open(&path).unwrap_err();
    assert!(matches!(err, OpenError::Layout { .. }), "{err:?}");
    {
        let db = Database::open(&path).unwrap();
        let txn = db.begin_read().unwrap();
        let version = txn
            .open_table(layout)
            .unwrap()
            .get("version")
            .unwrap()
            .map(|v| v.value());
        assert_eq!(version, Some(2), "the refused file's version is left alone");
    }
    // Back at this build's version, the session is still there.
    set_version(1);
    let store = FileStore::builder(&path)
        .clock(Arc::new(clock.clone()))
        .open()
        .unwrap();
    assert_eq!(store.load(&kept.id).await.unwrap(), Some(kept));
}

/// The engine's file format, in the version byte of each of the two commit
/// slots of its header (redb's documented layout: slots of 128 bytes from
/// byte 64). An older format asks for an upgrade; a newer one (a release
/// with a newer engine wrote the file, and the app was rolled back) is no
/// damage either: both are refused as a layout this build does not read,
/// and the file is left as it is, to open again once the version matches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_of_another_engine_format_is_refused_as_a_layout_and_left_as_it_is() {
    const SLOT_VERSIONS: [usize; 2] = [64, 64 + 128];
    let (_dir, path) = temp_path();
    let clock = MockClock::starting_now();
    let kept = record(clock.now(), HOUR, Some("ada"));
    crate::support::open_at(&path, &clock)
        .create(&kept)
        .await
        .unwrap();
    let pristine = std::fs::read(&path).unwrap();
    let current = pristine[SLOT_VERSIONS[0]];
    assert_eq!(pristine[SLOT_VERSIONS[1]], current);
    for (version, says) in [(current - 1, "upgrade"), (current + 1, "newer")] {
        let mut bytes = pristine.clone();
        for at in SLOT_VERSIONS {
            bytes[at] = version;
        }
        std::fs::write(&path, &bytes).unwrap();
        let err = FileStore::builder(&path)
            .without_cleanup()
            .open()
            .unwrap_err();
        assert!(
            matches!(&err, OpenError::Layout { reason, .. } if reason.contains(says)),
            "format {version}: {err:?}"
        );
        assert!(
            std::fs::read(&path).unwrap() == bytes,
            "format {version}: the refused file was changed"
        );
    }
    std::fs::write(&path, &pristine).unwrap();
    let store = crate::support::open_at(&path, &clock);
    assert_eq!(store.load(&kept.id).await.unwrap(), Some(kept));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_over_the_limit_are_too_large() {
    let clock = MockClock::starting_now();
    let (_dir, path) = temp_path();
    let store = FileStore::builder(&path)
        .clock(Arc::new(clock.clone()))
        .max_record_bytes(600)
        .without_cleanup()
        .open()
        .unwrap();
    let mut big = record(clock.now(), HOUR, None);
    let blob = format!("\"{}\"", "x".repeat(1000));
    big.fields.insert("blob", blob.as_str());
    assert!(matches!(
        store.create(&big).await,
        Err(StoreError::TooLarge { limit: 600, .. })
    ));
    assert_eq!(store.load(&big.id).await.unwrap(), None);

    let small = record(clock.now(), HOUR, None);
    store.create(&small).await.unwrap();
    let grow = set_field(clock.now(), "blob", &blob);
    assert!(matches!(
        store.save(&small.id, &grow).await,
        Err(StoreError::TooLarge { .. })
    ));
    assert_eq!(store.load(&small.id).await.unwrap(), Some(small));
}

/// A limit lowered between two runs: the records already stored above it
/// still load and refresh; a save that leaves one over the limit is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_stored_under_a_larger_limit_can_still_be_refreshed() {
    let clock = MockClock::starting_now();
    let (_dir, path) = temp_path();
    let mut big = record(clock.now(), HOUR, Some("u"));
    big.fields
        .insert("blob", format!("\"{}\"", "x".repeat(2000)).as_str());
    crate::support::open_at(&path, &clock)
        .create(&big)
        .await
        .unwrap();
    let store = FileStore::builder(&path)
        .clock(Arc::new(clock.clone()))
        .max_record_bytes(1024)
        .without_cleanup()
        .open()
        .unwrap();
    assert!(store.load(&big.id).await.unwrap().is_some());
    let later = clock.now().plus(HOUR * 2);
    assert_eq!(
        store
            .touch(&big.id, later, clock.now(), None)
            .await
            .unwrap(),
        SaveOutcome::Saved
    );
    assert_eq!(
        store.load(&big.id).await.unwrap().unwrap().expires_at,
        later
    );
    assert!(matches!(
        store
            .save(&big.id, &set_field(clock.now(), "more", "1"))
            .await,
        Err(StoreError::TooLarge { .. })
    ));
    // A save that sets nothing (a read recording its use, a removal) grows
    // nothing: it is not refused.
    clock.advance(HOUR / 60);
    let seen = session_core::SessionPatch {
        last_seen: clock.now(),
        ..Default::default()
    };
    assert_eq!(
        store.save(&big.id, &seen).await.unwrap(),
        SaveOutcome::Saved
    );
    assert_eq!(
        store.load(&big.id).await.unwrap().unwrap().last_seen,
        clock.now()
    );
}

/// A limit lowered between two runs: a login stored above it can still
/// have permissions taken away; a rebind that grows it is refused, and
/// nothing is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_stored_under_a_larger_limit_can_still_lose_permissions() {
    let clock = MockClock::starting_now();
    let (_dir, path) = temp_path();
    let roles: Vec<String> = (0..20).map(|i| format!("role-{i:02}")).collect();
    let mut big = record(clock.now(), HOUR, Some("u"));
    big.binding = Some(Box::new(Binding::user("u").with_permissions(roles.clone())));
    big.fields
        .insert("blob", format!("\"{}\"", "x".repeat(2000)).as_str());
    crate::support::open_at(&path, &clock)
        .create(&big)
        .await
        .unwrap();
    let store = FileStore::builder(&path)
        .clock(Arc::new(clock.clone()))
        .max_record_bytes(1024)
        .without_cleanup()
        .open()
        .unwrap();

    let more = Binding::user("u").with_permissions(roles.iter().cloned().chain(["admin".into()]));
    assert!(matches!(
        store.rebind(&big.id, &more).await,
        Err(StoreError::TooLarge { limit: 1024, .. })
    ));
    assert_eq!(store.load(&big.id).await.unwrap(), Some(big.clone()));

    // Still over the limit, but smaller than it was.
    let fewer = Binding::user("u").with_permissions(roles[..2].iter().cloned());
    assert!(store.rebind(&big.id, &fewer).await.unwrap());
    let loaded = store.load(&big.id).await.unwrap().unwrap();
    assert_eq!(loaded.binding.as_deref(), Some(&fewer));
    assert_eq!(loaded.fields, big.fields);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_refuses_a_bad_cursor_and_caps_the_page() {
    let clock = MockClock::starting_now();
    let (_dir, path) = temp_path();
    let store = crate::support::open_at(&path, &clock);
    for _ in 0..3 {
        store
            .create(&record(clock.now(), HOUR, None))
            .await
            .unwrap();
    }
    let bad = PageRequest {
        cursor: Some("not a cursor".into()),
        limit: 10,
    };
    assert!(matches!(
        store.list(bad).await,
        Err(StoreError::InvalidCursor(_))
    ));
    // A zero limit still makes progress.
    let page = store.list(PageRequest::first(0)).await.unwrap();
    assert_eq!(page.items.len(), 1);
    assert!(page.next.is_some());
}

/// A file damaged byte by byte, opened with and without the integrity check:
/// each open is a store or an `OpenError`, and each call on an opened store
/// an answer or a `StoreError`, never a panic.
#[test]
fn a_damaged_file_is_an_error_or_a_store_never_a_panic() {
    let clock = MockClock::starting_now();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (dir, path) = temp_path();
    let ids: Vec<_> = runtime.block_on(async {
        let store = crate::support::open_at(&path, &clock);
        let mut ids = Vec::new();
        for i in 0..40 {
            let r = record(clock.now(), HOUR, Some(["a", "b"][i % 2]));
            store.create(&r).await.unwrap();
            ids.push(r.id);
        }
        for id in &ids[..10] {
            store.delete(id).await.unwrap();
        }
        ids
    });
    let pristine = std::fs::read(&path).unwrap();
    for check in [true, false] {
        // About 120 places over the file, pages of metadata and of records.
        for at in (0..pristine.len()).step_by(pristine.len() / 120 + 1) {
            let mut damaged = pristine.clone();
            damaged[at] ^= 0x5a;
            let copy = dir.path().join(format!("damaged-{check}-{at}.redb"));
            std::fs::write(&copy, &damaged).unwrap();
            let opened = FileStore::builder(&copy)
                .clock(Arc::new(clock.clone()))
                .check_integrity_on_open(check)
                .without_cleanup()
                .open();
            let Ok(store) = opened else { continue };
            runtime.block_on(async {
                for id in &ids {
                    let _ = store.load(id).await;
                }
                let _ = store.list_for_user("a").await;
                let _ = store.list(PageRequest::first(100)).await;
                let _ = store
                    .save(&ids[20], &set_field(clock.now(), "q", "1"))
                    .await;
                let _ = store.sweep_expired().await;
            });
        }
    }
}

/// A store file cut short inside its header (an interrupted copy or restore)
/// is a damaged database: `OpenError::Database`, as for any other damage,
/// not `OpenError::Io`, which says the disk or permissions failed.
#[test]
fn a_file_truncated_inside_its_header_is_a_damaged_database() {
    let clock = MockClock::starting_now();
    let (dir, path) = temp_path();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = crate::support::open_at(&path, &clock);
        store
            .create(&record(clock.now(), HOUR, Some("u")))
            .await
            .unwrap();
    });
    let pristine = std::fs::read(&path).unwrap();
    for cut in [16, 64, 100, 200, 300] {
        let copy = dir.path().join(format!("cut-{cut}.redb"));
        std::fs::write(&copy, &pristine[..cut]).unwrap();
        let err = FileStore::builder(&copy)
            .without_cleanup()
            .open()
            .expect_err("a truncated file does not open");
        assert!(
            matches!(err, OpenError::Database { .. }),
            "cut at {cut} bytes: {err:?} ({err})"
        );
    }
}
