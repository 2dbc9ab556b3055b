//! The local cache: what it saves (round trips) and what keeps it coherent
//! (invalidations from other clients, own writes, lost connections).

use std::time::{Duration, Instant};

use session_core::clock::Clock as _;
use session_core::{
    Binding, FieldMap, MockClock, SaveOutcome, SessionId, SessionPatch, SessionRecord, SessionStore,
};
use session_redis::{ConfigError, RedisStore};

use crate::monitor::{Monitor, sent};
use crate::support::{self, RedisServer};

const HOUR: Duration = Duration::from_secs(3600);

fn record(clock: &MockClock, user: Option<&str>) -> SessionRecord {
    support::counter(clock, 1, HOUR, user)
}

fn set(clock: &MockClock, count: &str) -> SessionPatch {
    SessionPatch {
        set_fields: [("count", count)].into_iter().collect::<FieldMap>(),
        last_seen: clock.now(),
        ..SessionPatch::default()
    }
}

/// A cached store on `server` under `prefix`.
fn cached(server: &RedisServer, clock: &MockClock, prefix: &str) -> RedisStore {
    support::builder(clock)
        .url(server.url())
        .key_prefix(prefix)
        .local_cache(1000)
        .build()
        .expect("store")
}

/// A store without a cache on `server`, under `cached`'s prefix: what Redis
/// holds.
fn uncached_view(server: &RedisServer, clock: &MockClock, cached: &RedisStore) -> RedisStore {
    support::builder(clock)
        .url(server.url())
        .key_prefix(cached.key_prefix())
        .build()
        .expect("store")
}

/// A cached store on a private `server`, connected and its scripts loaded
/// (a new connection empties the cache), and a fresh session created
/// through it, its invalidation handled.
async fn warmed_up(server: &RedisServer, clock: &MockClock) -> (RedisStore, SessionRecord) {
    let store = cached(server, clock, &support::unique_prefix());
    let warm = record(clock, None);
    store.create(&warm).await.unwrap();
    store.save(&warm.id, &set(clock, "0")).await.unwrap();
    let r = record(clock, None);
    store.create(&r).await.unwrap();
    settle(&store).await;
    (store, r)
}

/// Two cached stores on the shared server under one fresh prefix (two app
/// servers), both connected: a connection that is new empties its cache.
async fn two_servers(clock: &MockClock) -> Option<(RedisStore, RedisStore)> {
    let server = support::standalone()?;
    let prefix = support::unique_prefix();
    let (a, b) = (
        cached(server, clock, &prefix),
        cached(server, clock, &prefix),
    );
    a.ping().await.unwrap();
    b.ping().await.unwrap();
    Some((a, b))
}

/// Waits until the invalidations of this store's own writes so far have
/// been handled: they come before the reply to a later command. (Until
/// then, a load's result may be refused by the cache.)
async fn settle(store: &RedisStore) {
    store.ping().await.unwrap();
}

/// Runs `call` until its command waits in `server` (held back by a pause),
/// then drops it: its caller went away before the reply.
async fn given_up_once_held<T: std::fmt::Debug>(
    server: &RedisServer,
    what: &str,
    call: impl std::future::Future<Output = T>,
) {
    tokio::select! {
        result = call => panic!("the {what} did not wait for the pause: {result:?}"),
        () = support::wait_blocked(server, 1) => {}
    }
}

fn count(record: Option<SessionRecord>) -> Option<String> {
    record.and_then(|r| r.fields.get("count").map(str::to_owned))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_read_sends_nothing_and_a_changed_request_sends_only_its_write() {
    let Some(server) = support::private_server(&[]) else {
        return;
    };
    let clock = MockClock::starting_now();
    let (store, r) = warmed_up(&server, &clock).await;
    assert!(store.has_local_cache());
    let mut admin = support::admin(&server).await;
    let mut monitor = Monitor::start(&server.url()).await;
    monitor.take(&mut admin).await;

    // The first read goes to Redis, the next ones do not.
    assert_eq!(store.load(&r.id).await.unwrap().as_ref(), Some(&r));
    assert_eq!(sent(&monitor.take(&mut admin).await), ["hgetall"]);
    for _ in 0..3 {
        assert_eq!(store.load(&r.id).await.unwrap().as_ref(), Some(&r));
    }
    assert_eq!(sent(&monitor.take(&mut admin).await), Vec::<String>::new());

    // A changed request: the load above, then the write, the only round
    // trip; the copy follows the write.
    let outcome = store.save(&r.id, &set(&clock, "2")).await.unwrap();
    assert_eq!(outcome, SaveOutcome::Saved);
    let seen = monitor.take(&mut admin).await;
    assert_eq!(sent(&seen), ["evalsha"]);
    // The script marks the write as this store's (see the crate's cache).
    assert!(
        seen.iter()
            .any(|s| s.from_script && s.name() == "set" && s.mentions("}:w:")),
        "{seen:?}"
    );
    settle(&store).await;
    monitor.take(&mut admin).await;
    let back = store.load(&r.id).await.unwrap().unwrap();
    assert_eq!(back.fields.get("count"), Some("2"));
    assert_eq!(back.revision, 1);
    assert_eq!(sent(&monitor.take(&mut admin).await), Vec::<String>::new());

    // And it is what Redis holds.
    let fresh = uncached_view(&server, &clock, &store);
    assert_eq!(fresh.load(&r.id).await.unwrap(), Some(back));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_saves_of_one_session_leave_the_copy_equal_to_redis() {
    let Some(server) = support::private_server(&[]) else {
        return;
    };
    let clock = MockClock::starting_now();
    let (store, r) = warmed_up(&server, &clock).await;
    let mut admin = support::admin(&server).await;
    let fresh = uncached_view(&server, &clock, &store);
    store.load(&r.id).await.unwrap();

    for round in 0..20 {
        // 16 requests at once, each setting its own field and the counter.
        let saves = (0..16).map(|i| {
            let store = store.clone();
            let patch = SessionPatch {
                set_fields: [
                    (format!("f{i}"), format!("{round}")),
                    ("count".into(), format!("{i}")),
                ]
                .into_iter()
                .collect::<FieldMap>(),
                last_seen: clock.now(),
                ..SessionPatch::default()
            };
            tokio::spawn(async move { store.save(&r.id, &patch).await })
        });
        for save in futures_util::future::join_all(saves).await {
            assert_eq!(save.unwrap().unwrap(), SaveOutcome::Saved);
        }
        settle(&store).await;
        let mut monitor = Monitor::start(&server.url()).await;
        monitor.take(&mut admin).await;
        let copy = store.load(&r.id).await.unwrap();
        let from_memory = sent(&monitor.take(&mut admin).await).is_empty();
        let truth = fresh.load(&r.id).await.unwrap();
        assert_eq!(copy, truth, "round {round}");
        assert_eq!(truth.map(|t| t.revision), Some(16 * (round + 1)));
        assert!(from_memory, "round {round}: the copy was dropped");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_saves_merged_into_one_invalidation_do_not_hide_a_later_revocation() {
    let clock = MockClock::starting_now();
    let Some((a, b)) = two_servers(&clock).await else {
        return;
    };
    let r = record(&clock, Some("grace"));
    a.create(&r).await.unwrap();
    settle(&a).await;
    a.load(&r.id).await.unwrap();
    // Bursts of concurrent saves on A: Redis runs several in one event loop
    // iteration and sends one invalidation for them.
    for round in 0..5 {
        let saves = (0..16).map(|i| {
            let a = a.clone();
            let patch = set(&clock, &format!("{round}-{i}"));
            tokio::spawn(async move { a.save(&r.id, &patch).await })
        });
        for save in futures_util::future::join_all(saves).await {
            assert_eq!(save.unwrap().unwrap(), SaveOutcome::Saved);
        }
    }
    settle(&a).await;
    assert!(a.load(&r.id).await.unwrap().is_some());

    // Revoked through B: A's copy goes with the next invalidation.
    assert_eq!(b.delete_for_user("grace", None).await.unwrap(), 1);
    settle(&a).await;
    assert_eq!(a.load(&r.id).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_merged_with_an_own_save_into_one_invalidation_drops_the_copy() {
    let Some(server) = support::private_server(&["--enable-debug-command", "yes"]) else {
        return;
    };
    let clock = MockClock::starting_now();
    let prefix = support::unique_prefix();
    let (a, b) = (
        cached(&server, &clock, &prefix),
        cached(&server, &clock, &prefix),
    );
    a.ping().await.unwrap();
    b.ping().await.unwrap();
    let admin = support::admin(&server).await;
    // While Redis sleeps, A's save and B's delete wait in their sockets; it
    // then runs both in one event loop iteration and sends one invalidation
    // naming the session and A's marker. Which runs first is up to Redis:
    // only a save that ran first leaves A a copy to drop.
    for _ in 0..10 {
        let r = record(&clock, Some("ada"));
        a.create(&r).await.unwrap();
        settle(&a).await;
        assert!(a.load(&r.id).await.unwrap().is_some());
        let mut sleeper = admin.clone();
        let sleep = tokio::spawn(async move {
            redis::cmd("DEBUG")
                .arg("SLEEP")
                .arg("0.3")
                .query_async::<()>(&mut sleeper)
                .await
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (a2, patch) = (a.clone(), set(&clock, "2"));
        let save = tokio::spawn(async move { a2.save(&r.id, &patch).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let b2 = b.clone();
        let delete = tokio::spawn(async move { b2.delete(&r.id).await });
        sleep.await.unwrap().unwrap();
        let saved = save.await.unwrap().unwrap();
        assert!(delete.await.unwrap().unwrap());
        settle(&a).await;
        assert_eq!(a.load(&r.id).await.unwrap(), None, "revoked on B");
        if saved == SaveOutcome::Saved {
            return;
        }
    }
    panic!("the save never ran before the delete");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_whose_caller_went_away_still_drops_the_copy() {
    let Some(server) = support::private_server(&[]) else {
        return;
    };
    let clock = MockClock::starting_now();
    let (store, r) = warmed_up(&server, &clock).await;
    let view = uncached_view(&server, &clock, &store);
    // The delete script loaded (a first EVALSHA would answer NOSCRIPT).
    let other = record(&clock, None);
    store.create(&other).await.unwrap();
    assert!(store.delete(&other.id).await.unwrap());
    settle(&store).await;
    assert!(store.load(&r.id).await.unwrap().is_some(), "cached now");
    // Redis holds writes back: the delete is sent, and its caller gives up
    // (a timeout, a closed request) before the reply.
    support::pause_writes(&server, 30_000).await;
    given_up_once_held(&server, "delete", store.delete(&r.id)).await;
    // The delete runs once the pause ends; its echo is this store's own.
    support::unpause(&server).await;
    settle(&store).await;
    assert_eq!(view.load(&r.id).await.unwrap(), None, "deleted in Redis");
    assert_eq!(store.load(&r.id).await.unwrap(), None, "no copy left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_save_whose_caller_went_away_leaves_no_stale_copy() {
    let Some(server) = support::private_server(&[]) else {
        return;
    };
    let clock = MockClock::starting_now();
    let (store, r) = warmed_up(&server, &clock).await;
    let view = uncached_view(&server, &clock, &store);
    assert_eq!(
        count(store.load(&r.id).await.unwrap()).as_deref(),
        Some("1")
    );
    support::pause_writes(&server, 30_000).await;
    given_up_once_held(&server, "save", store.save(&r.id, &set(&clock, "2"))).await;
    support::unpause(&server).await;
    settle(&store).await;
    assert_eq!(count(view.load(&r.id).await.unwrap()).as_deref(), Some("2"));
    assert_eq!(
        count(store.load(&r.id).await.unwrap()).as_deref(),
        Some("2"),
        "no stale copy"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_by_another_server_reaches_the_cache() {
    let clock = MockClock::starting_now();
    let Some((a, b)) = two_servers(&clock).await else {
        return;
    };
    let r = record(&clock, Some("ada"));
    a.create(&r).await.unwrap();
    // B reads the session, so B holds a copy.
    assert_eq!(count(b.load(&r.id).await.unwrap()).as_deref(), Some("1"));

    a.save(&r.id, &set(&clock, "2")).await.unwrap();
    // A's write ran before B's PING, so its invalidation reached B before
    // the PING's reply: B's copy is gone once the PING returns.
    b.ping().await.unwrap();
    assert_eq!(count(b.load(&r.id).await.unwrap()).as_deref(), Some("2"));

    // A change written by hand, outside any store, too.
    let mut admin = support::admin(support::standalone().expect("shared server")).await;
    let _: () = redis::cmd("HSET")
        .arg(b.session_key(&r.id))
        .arg("f:count")
        .arg("3")
        .query_async(&mut admin)
        .await
        .unwrap();
    b.ping().await.unwrap();
    assert_eq!(count(b.load(&r.id).await.unwrap()).as_deref(), Some("3"));

    // A revocation on A: B no longer serves the session.
    assert_eq!(a.delete_for_user("ada", None).await.unwrap(), 1);
    b.ping().await.unwrap();
    assert_eq!(b.load(&r.id).await.unwrap(), None);
    assert_eq!(a.load(&r.id).await.unwrap(), None);
}

/// The binding of `store`'s copy (or Redis's) of session `id`.
async fn binding_of(store: &RedisStore, id: &SessionId) -> Option<Binding> {
    let record = store.load(id).await.unwrap()?;
    record.binding.map(|b| *b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebind_by_another_server_reaches_the_cache() {
    let clock = MockClock::starting_now();
    let Some((a, b)) = two_servers(&clock).await else {
        return;
    };
    let r = record(&clock, Some("ada"));
    a.create(&r).await.unwrap();
    settle(&a).await;
    // Both load it, so both hold a copy.
    let before = r.binding.as_deref().cloned();
    assert_eq!(binding_of(&a, &r.id).await, before);
    assert_eq!(binding_of(&b, &r.id).await, before);

    let promoted = Binding::user("ada").with_permissions(["admin"]);
    assert!(a.rebind(&r.id, &promoted).await.unwrap());
    // A's own copy went with the reply, without waiting for the echo.
    assert_eq!(binding_of(&a, &r.id).await.as_ref(), Some(&promoted));
    // A's write ran before B's PING, so its invalidation reached B first.
    b.ping().await.unwrap();
    assert_eq!(binding_of(&b, &r.id).await.as_ref(), Some(&promoted));

    // And back, through B; the rest of the record is as it was.
    let demoted = Binding::user("ada");
    assert!(b.rebind(&r.id, &demoted).await.unwrap());
    a.ping().await.unwrap();
    let mut expected = r.clone();
    expected.binding = Some(Box::new(demoted));
    assert_eq!(a.load(&r.id).await.unwrap().as_ref(), Some(&expected));
    assert_eq!(b.load(&r.id).await.unwrap(), Some(expected));

    // A refused rebind leaves the copies alone.
    let other = Binding::user("mallory").with_permissions(["admin"]);
    assert!(!a.rebind(&r.id, &other).await.unwrap());
    assert_eq!(binding_of(&a, &r.id).await, Some(Binding::user("ada")));
}

/// B's rebind and A's save run in one event loop iteration, in either
/// order: one invalidation names the session and both stores' markers, and
/// A's copy (which followed its save, but not the rebind) must go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebind_merged_with_an_own_save_into_one_invalidation_drops_the_copy() {
    let Some(server) = support::private_server(&["--enable-debug-command", "yes"]) else {
        return;
    };
    let clock = MockClock::starting_now();
    let prefix = support::unique_prefix();
    let (a, b) = (
        cached(&server, &clock, &prefix),
        cached(&server, &clock, &prefix),
    );
    // Warm-up: both connected, the scripts loaded (a NOSCRIPT reload would
    // take the call out of the iteration).
    let warm = record(&clock, Some("ada"));
    a.create(&warm).await.unwrap();
    a.save(&warm.id, &set(&clock, "0")).await.unwrap();
    let same = warm.binding.as_deref().cloned().expect("bound");
    assert!(b.rebind(&warm.id, &same).await.unwrap());
    let admin = support::admin(&server).await;
    for round in 0..3 {
        let r = record(&clock, Some("ada"));
        a.create(&r).await.unwrap();
        settle(&a).await;
        assert!(a.load(&r.id).await.unwrap().is_some());
        let mut sleeper = admin.clone();
        let sleep = tokio::spawn(async move {
            redis::cmd("DEBUG")
                .arg("SLEEP")
                .arg("0.3")
                .query_async::<()>(&mut sleeper)
                .await
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (a2, patch) = (a.clone(), set(&clock, "2"));
        let save = tokio::spawn(async move { a2.save(&r.id, &patch).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let promoted = Binding::user("ada").with_permissions([format!("admin-{round}")]);
        let (b2, binding) = (b.clone(), promoted.clone());
        let rebind = tokio::spawn(async move { b2.rebind(&r.id, &binding).await });
        sleep.await.unwrap().unwrap();
        assert_eq!(save.await.unwrap().unwrap(), SaveOutcome::Saved);
        assert!(rebind.await.unwrap().unwrap());
        settle(&a).await;
        let copy = a.load(&r.id).await.unwrap().expect("live");
        assert_eq!(copy.binding.as_deref(), Some(&promoted), "round {round}");
        assert_eq!(copy.fields.get("count"), Some("2"), "round {round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebind_whose_caller_went_away_leaves_no_stale_copy() {
    let Some(server) = support::private_server(&[]) else {
        return;
    };
    let clock = MockClock::starting_now();
    let store = cached(&server, &clock, &support::unique_prefix());
    let view = uncached_view(&server, &clock, &store);
    let r = record(&clock, Some("ada"));
    store.create(&r).await.unwrap();
    // The script loaded (a first EVALSHA would answer NOSCRIPT), and a copy.
    let same = r.binding.as_deref().cloned().expect("bound");
    assert!(store.rebind(&r.id, &same).await.unwrap());
    settle(&store).await;
    assert_eq!(binding_of(&store, &r.id).await.as_ref(), Some(&same));
    let promoted = Binding::user("ada").with_permissions(["admin"]);
    support::pause_writes(&server, 30_000).await;
    given_up_once_held(&server, "rebind", store.rebind(&r.id, &promoted)).await;
    // The rebind runs once the pause ends; its echo is this store's own.
    support::unpause(&server).await;
    settle(&store).await;
    assert_eq!(binding_of(&view, &r.id).await.as_ref(), Some(&promoted));
    assert_eq!(
        binding_of(&store, &r.id).await.as_ref(),
        Some(&promoted),
        "no stale copy"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_and_deletes_drop_the_copy() {
    let clock = MockClock::starting_now();
    let Some((store, other)) = two_servers(&clock).await else {
        return;
    };

    let r = record(&clock, None);
    store.create(&r).await.unwrap();
    store.load(&r.id).await.unwrap();
    assert!(store.delete(&r.id).await.unwrap());
    assert_eq!(store.load(&r.id).await.unwrap(), None);

    // A save expecting an old revision is refused; the copy, which may be
    // what was stale, is dropped and the next load reads Redis.
    let r = record(&clock, None);
    store.create(&r).await.unwrap();
    other.save(&r.id, &set(&clock, "2")).await.unwrap();
    let mut stale = set(&clock, "9");
    stale.expected_revision = Some(0);
    store.ping().await.unwrap();
    assert_eq!(
        store.save(&r.id, &stale).await.unwrap(),
        SaveOutcome::Conflict { current: 1 }
    );
    assert_eq!(
        count(store.load(&r.id).await.unwrap()).as_deref(),
        Some("2")
    );

    // After a touch, the copy has the new expiry.
    let later = r.expires_at.plus(HOUR);
    clock.advance(Duration::from_secs(1));
    store.touch(&r.id, later, clock.now(), None).await.unwrap();
    settle(&store).await;
    let touched = store.load(&r.id).await.unwrap().unwrap();
    assert_eq!(touched.expires_at, later);
    assert_eq!(touched.last_seen, clock.now());
    assert_eq!(other.load(&r.id).await.unwrap(), Some(touched.clone()));

    // A cached copy expires by the store's clock.
    assert_eq!(store.load(&r.id).await.unwrap().as_ref(), Some(&touched));
    clock.advance(2 * HOUR + Duration::from_secs(1));
    assert_eq!(store.load(&r.id).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_connection_drops_the_cache() {
    let Some(server) = support::private_server(&[]) else {
        return;
    };
    let clock = MockClock::starting_now();
    let store = cached(&server, &clock, &support::unique_prefix());
    let mut admin = support::admin(&server).await;
    let r = record(&clock, None);
    store.create(&r).await.unwrap();
    settle(&store).await;
    // Cached: the second load is served from memory.
    store.load(&r.id).await.unwrap();
    let mut monitor = Monitor::start(&server.url()).await;
    monitor.take(&mut admin).await;
    assert_eq!(
        count(store.load(&r.id).await.unwrap()).as_deref(),
        Some("1")
    );
    assert_eq!(sent(&monitor.take(&mut admin).await), Vec::<String>::new());
    drop(monitor);

    let killed = support::kill_client_connections(&mut admin).await;
    assert!(killed >= 1, "no connection to kill");
    // Changed while the store's connection is gone: no invalidation can
    // reach it.
    let _: () = redis::cmd("HSET")
        .arg(store.session_key(&r.id))
        .arg("f:count")
        .arg("5")
        .query_async(&mut admin)
        .await
        .unwrap();

    // The call that meets the dead connection may fail; none may answer
    // from the copy made before it.
    let started = Instant::now();
    let found = loop {
        let _ = store.ping().await;
        match store.load(&r.id).await {
            Ok(found) => break found,
            Err(e) => {
                assert!(e.is_unavailable(), "{e}");
                assert!(started.elapsed() < Duration::from_secs(5), "{e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    assert_eq!(count(found).as_deref(), Some("5"));
}

#[test]
fn a_cluster_cannot_have_a_local_cache() {
    let built = RedisStore::builder()
        .cluster_urls(["redis://127.0.0.1:7000"])
        .local_cache(100)
        .build();
    assert!(matches!(built, Err(ConfigError::LocalCacheNeedsStandalone)));
}
