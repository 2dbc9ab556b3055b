//! The write paths at their limits: many fields (script chunking), server
//! refusals (OOM, read-only, NOSCRIPT) and what they leave behind.

use std::time::Duration;

use session_core::clock::Clock as _;
use session_core::{
    Binding, FieldMap, MockClock, SaveOutcome, SessionId, SessionPatch, SessionRecord,
    SessionStore, StoreError,
};
use session_redis::RedisStore;

use crate::support;

const HOUR: Duration = Duration::from_secs(3600);

fn many(prefix: &str, n: usize) -> FieldMap {
    (0..n)
        .map(|i| (format!("{prefix}{i}"), format!("\"v{i}\"")))
        .collect()
}

/// Thousands of fields set, removed and taken in one create and one save:
/// the scripts' `HSET`/`HDEL` chunks and `unpack` must cope, and the exact
/// size path (forced by a limit just above the record) must agree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_fields_round_trip_through_create_and_save() {
    let (Some(server), Some(cluster)) = (support::standalone(), support::cluster()) else {
        return;
    };
    let clock = MockClock::starting_now();
    for limit in [1 << 20, 200_000] {
        let stores = [
            support::builder(&clock)
                .url(server.url())
                .max_record_bytes(limit)
                .build()
                .unwrap(),
            support::builder(&clock)
                .url(server.url())
                .max_record_bytes(limit)
                .local_cache(100)
                .build()
                .unwrap(),
            support::builder(&clock)
                .cluster_urls(cluster.urls())
                .max_record_bytes(limit)
                .build()
                .unwrap(),
        ];
        for store in stores {
            let now = clock.now();
            let mut r = SessionRecord::new(SessionId::generate(), now, now.plus(HOUR));
            r.fields = many("old", 3000);
            r.flash = many("fl", 1500);
            r.binding = Some(Box::new(Binding::user("many").with_label("x")));
            store.create(&r).await.unwrap();
            assert_eq!(store.load(&r.id).await.unwrap().as_ref(), Some(&r));

            let patch = SessionPatch {
                set_fields: many("new", 3000),
                removed_fields: (0..3000).map(|i| format!("old{i}").into()).collect(),
                set_flash: many("nf", 700),
                taken_flash: many("fl", 1500),
                last_seen: clock.now(),
                expires_at: Some(clock.now().plus(2 * HOUR)),
                user_id: Some("many".into()),
                ..SessionPatch::default()
            };
            assert_eq!(
                store.save(&r.id, &patch).await.unwrap(),
                SaveOutcome::Saved,
                "limit {limit}"
            );
            let mut expected = r.clone();
            expected.apply(&patch);
            let loaded = store.load(&r.id).await.unwrap().unwrap();
            assert_eq!(loaded, expected, "limit {limit}");
            assert_eq!(support::listed(&store, "many").await, [r.id]);
        }
    }
}

/// Sets the server's `maxmemory` (`"1"`: every write that adds memory is
/// refused under `noeviction`; `"0"`: no limit).
async fn set_maxmemory(admin: &mut redis::aio::MultiplexedConnection, bytes: &str) {
    let _: () = redis::cmd("CONFIG")
        .arg(&["SET", "maxmemory", bytes][..])
        .query_async(admin)
        .await
        .unwrap();
}

/// A server over `maxmemory` with `noeviction` refuses the scripts' writes
/// (Redis checks at a script's first deny-oom write, and lets everything
/// after any first write through). A save refreshing a bound session and
/// naming its user is refused like the same save without the user: the
/// index step's `ZREMRANGEBYSCORE`, a write Redis does not refuse under OOM,
/// must not open the way for the data it writes after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_naming_the_user_is_refused_under_oom_like_any_save() {
    let Some(server) = support::private_server(&["--maxmemory-policy", "noeviction"]) else {
        return;
    };
    let clock = MockClock::starting_now();
    let store = support::store_on(&server, &clock);
    let r = support::counter(&clock, 1, HOUR, Some("oom"));
    store.create(&r).await.unwrap();
    let mut admin = support::admin(&server).await;
    set_maxmemory(&mut admin, "1").await;
    let big = format!("\"{}\"", "x".repeat(100_000));
    let grow = |user: Option<&str>| SessionPatch {
        set_fields: [("big", big.as_str())].into_iter().collect(),
        last_seen: clock.now(),
        expires_at: Some(clock.now().plus(2 * HOUR)),
        user_id: user.map(Into::into),
        ..SessionPatch::default()
    };
    let unnamed = store.save(&r.id, &grow(None)).await;
    assert!(
        matches!(unnamed, Err(StoreError::Unavailable(_))),
        "save under OOM gave {unnamed:?}"
    );
    let named = store.save(&r.id, &grow(Some("oom"))).await;
    set_maxmemory(&mut admin, "0").await;
    let stored = store.load(&r.id).await.unwrap().unwrap();
    server.stop();
    assert!(
        matches!(named, Err(StoreError::Unavailable(_))),
        "the same save naming the user, under OOM, gave {named:?} and stored {} bytes",
        stored.fields.byte_size()
    );
}

/// Under `maxmemory` with `noeviction`, a create is refused, also when its
/// id holds a record expired by the store's clock that Redis still keeps:
/// the create script's `DEL` of that record (a write Redis does not refuse
/// under OOM) must not let the new record's data through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_over_an_expired_record_is_refused_under_oom_like_any_create() {
    let Some(server) = support::private_server(&["--maxmemory-policy", "noeviction"]) else {
        return;
    };
    let clock = MockClock::starting_now();
    let store = support::store_on(&server, &clock);
    let old = support::counter(&clock, 1, HOUR, None);
    store.create(&old).await.unwrap();
    // Expired for the store; Redis keeps the key for another hour.
    clock.advance(2 * HOUR);
    let mut admin = support::admin(&server).await;
    set_maxmemory(&mut admin, "1").await;
    let big = format!("\"{}\"", "x".repeat(100_000));
    let mut fresh = support::counter(&clock, 1, HOUR, None);
    fresh.fields.insert("big", big.as_str());
    let refused = store.create(&fresh).await;
    assert!(
        matches!(refused, Err(StoreError::Unavailable(_))),
        "create under OOM gave {refused:?}"
    );
    let mut reused = fresh.clone();
    reused.id = old.id;
    let over_expired = store.create(&reused).await;
    set_maxmemory(&mut admin, "0").await;
    let stored = store.load(&old.id).await.unwrap();
    server.stop();
    assert!(
        matches!(over_expired, Err(StoreError::Unavailable(_))),
        "the same create over an expired record, under OOM, gave {over_expired:?} and stored {:?} bytes",
        stored.map(|r| r.fields.byte_size())
    );
}

/// `SCRIPT FLUSH` between calls: concurrent saves of one session (sent in
/// one pipeline, all answered NOSCRIPT) each load the script and run once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_saves_after_a_script_flush_each_apply_once() {
    let Some(server) = support::private_server(&[]) else {
        return;
    };
    let clock = MockClock::starting_now();
    for cache in [false, true] {
        let mut builder = support::builder(&clock).url(server.url());
        if cache {
            builder = builder.local_cache(100);
        }
        let store: RedisStore = builder.build().unwrap();
        let r = support::counter(&clock, 0, HOUR, Some("flush"));
        store.create(&r).await.unwrap();
        let mut admin = support::admin(&server).await;
        let _: () = redis::cmd("SCRIPT")
            .arg("FLUSH")
            .query_async(&mut admin)
            .await
            .unwrap();
        let saves = (0..8).map(|i| {
            let store = store.clone();
            let patch = SessionPatch {
                set_fields: [(format!("f{i}"), "1".to_owned())].into_iter().collect(),
                last_seen: clock.now(),
                ..SessionPatch::default()
            };
            async move { store.save(&r.id, &patch).await }
        });
        for outcome in futures_util::future::join_all(saves).await {
            assert_eq!(outcome.unwrap(), SaveOutcome::Saved);
        }
        let loaded = store.load(&r.id).await.unwrap().unwrap();
        assert_eq!(loaded.revision, 8, "cache {cache}");
        assert_eq!(loaded.fields.len(), 9);
    }
    server.stop();
}

/// A store pointed at a read-only replica: writes fail as Unavailable,
/// never as Saved or Corrupt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_to_a_read_only_replica_are_unavailable() {
    // The first sync starts at once: by default the primary waits 5 s for
    // more replicas, which a loaded machine stretched past the wait below.
    let Some(primary) = support::private_server(&["--repl-diskless-sync-delay", "0"]) else {
        return;
    };
    let port = primary.port().to_string();
    let Some(replica) = support::private_server(&["--replicaof", "127.0.0.1", &port]) else {
        return;
    };
    let clock = MockClock::starting_now();
    let prefix = support::unique_prefix();
    let writer = support::builder(&clock)
        .url(primary.url())
        .key_prefix(&prefix)
        .build()
        .unwrap();
    let r = support::counter(&clock, 1, HOUR, Some("ro"));
    writer.create(&r).await.unwrap();
    let reader = support::builder(&clock)
        .url(replica.url())
        .key_prefix(&prefix)
        .build()
        .unwrap();
    let mut seen = None;
    for _ in 0..600 {
        seen = reader.load(&r.id).await.unwrap();
        if seen.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(seen.is_some(), "replicated");
    let saved = reader
        .save(
            &r.id,
            &SessionPatch {
                set_fields: [("count", "2")].into_iter().collect(),
                last_seen: clock.now(),
                ..SessionPatch::default()
            },
        )
        .await;
    assert!(
        matches!(saved, Err(StoreError::Unavailable(_))),
        "{saved:?}"
    );
    let deleted = reader.delete(&r.id).await;
    assert!(
        matches!(deleted, Err(StoreError::Unavailable(_))),
        "{deleted:?}"
    );
    let revoked = reader.delete_for_user("ro", None).await;
    assert!(
        matches!(revoked, Err(StoreError::Unavailable(_))),
        "{revoked:?}"
    );
    replica.stop();
    primary.stop();
}

/// A full server refuses every write: each refusal is a `debug` line, and
/// one `warn` line a minute at most counts them, naming the latest error.
/// (Current-thread: the capture is this thread's.)
#[tokio::test]
async fn refusals_of_a_full_server_are_summed_up_in_one_warning() {
    let Some(server) = support::private_server(&["--maxmemory-policy", "noeviction"]) else {
        return;
    };
    let clock = MockClock::starting_now();
    let store = support::store_on(&server, &clock);
    let r = support::counter(&clock, 1, HOUR, None);
    store.create(&r).await.unwrap();
    let mut admin = support::admin(&server).await;
    set_maxmemory(&mut admin, "1").await;
    let (log, _guard) = session_tests::logs::capture();
    let big = format!("\"{}\"", "x".repeat(10_000));
    for _ in 0..5 {
        let patch = SessionPatch {
            set_fields: [("big", big.as_str())].into_iter().collect(),
            last_seen: clock.now(),
            ..SessionPatch::default()
        };
        let saved = store.save(&r.id, &patch).await;
        assert!(
            matches!(saved, Err(StoreError::Unavailable(_))),
            "{saved:?}"
        );
    }
    set_maxmemory(&mut admin, "0").await;
    server.stop();
    let text = log.text();
    let warnings: Vec<&str> = text.lines().filter(|l| l.contains(" WARN ")).collect();
    assert_eq!(warnings.len(), 1, "{text}");
    assert!(
        warnings[0].contains("failed=1") && warnings[0].contains("OOM"),
        "{text}"
    );
    let each = text
        .lines()
        .filter(|l| l.contains("DEBUG") && l.contains("redis store call failed"))
        .count();
    assert_eq!(each, 5, "{text}");
}
