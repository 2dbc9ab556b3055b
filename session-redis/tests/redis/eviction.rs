//! A server that may evict session keys is named in a warning when the
//! store first connects: an evicted user index hides live sessions from
//! listing and revocation.

use std::time::{Duration, Instant};

use session_core::{MockClock, SessionId, SessionStore};
use session_redis::RedisStore;
use session_tests::logs::{CaptureGuard, Captured, capture};
use session_tests::redis::RedisServer;

use crate::support;

/// The captured lines once one holds `wanted` (the check runs on a task of
/// its own, on this test's thread).
async fn lines_once_logged(log: &Captured, wanted: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !log.text().contains(wanted) {
        assert!(
            Instant::now() < deadline,
            "never logged {wanted:?}: {}",
            log.text()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    log.text().lines().map(str::to_owned).collect()
}

/// A store on `server` that has made its first call, and the capture of
/// this thread's log.
async fn store_after_first_call(server: &RedisServer) -> (RedisStore, Captured, CaptureGuard) {
    let (log, guard) = capture();
    let store = support::store_on(server, &MockClock::starting_now());
    assert!(store.load(&SessionId::generate()).await.unwrap().is_none());
    (store, log, guard)
}

#[tokio::test]
async fn a_server_that_may_evict_session_keys_is_named_in_one_warning() {
    let Some(server) =
        support::private_server(&["--maxmemory-policy", "allkeys-lru", "--maxmemory", "100mb"])
    else {
        return;
    };
    let (store, log, _guard) = store_after_first_call(&server).await;
    let lines = lines_once_logged(&log, "maxmemory-policy").await;
    let warnings: Vec<_> = lines.iter().filter(|l| l.contains(" WARN ")).collect();
    assert_eq!(warnings.len(), 1, "{lines:#?}");
    assert!(
        warnings[0].contains("policy=\"allkeys-lru\""),
        "{}",
        warnings[0]
    );
    // A new connection (the server closed the old one) asks no more.
    server.restart();
    let _ = store.load(&SessionId::generate()).await;
    assert!(store.load(&SessionId::generate()).await.is_ok());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let text = log.text();
    let warnings = text
        .lines()
        .filter(|l| l.contains("maxmemory-policy"))
        .count();
    assert_eq!(warnings, 1, "{text}");
}

/// No warning where nothing is evicted: `noeviction` under a limit, and
/// any policy without a limit (Redis's default `maxmemory 0`).
#[tokio::test]
async fn a_server_that_keeps_session_keys_is_not_warned_about() {
    for args in [
        ["--maxmemory-policy", "noeviction", "--maxmemory", "100mb"],
        ["--maxmemory-policy", "allkeys-lru", "--maxmemory", "0"],
    ] {
        let Some(server) = support::private_server(&args) else {
            return;
        };
        let (_store, log, _guard) = store_after_first_call(&server).await;
        let lines = lines_once_logged(&log, "keeps session keys").await;
        assert!(
            !lines.iter().any(|l| l.contains(" WARN ")),
            "{args:?}: {lines:#?}"
        );
    }
}

/// In a cluster every master answers; one that may evict is warned about.
#[tokio::test]
async fn a_cluster_that_may_evict_session_keys_is_named_in_a_warning() {
    let Some(cluster) =
        support::private_cluster(&["--maxmemory-policy", "volatile-lru", "--maxmemory", "100mb"])
    else {
        return;
    };
    let (log, _guard) = capture();
    let store = support::cluster_store_on(&cluster, &MockClock::starting_now());
    assert!(store.load(&SessionId::generate()).await.unwrap().is_none());
    let lines = lines_once_logged(&log, "maxmemory-policy").await;
    let warning = lines.iter().find(|l| l.contains(" WARN ")).unwrap();
    assert!(warning.contains("policy=\"volatile-lru\""), "{warning}");
}
