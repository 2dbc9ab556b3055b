//! Redis going away: typed errors within the timeout, recovery without a new
//! store, and no acknowledged write lost across a crash (AOF, fsync always).

use std::time::{Duration, Instant};

use session_core::clock::Clock as _;
use session_core::{
    Binding, MockClock, SessionId, SessionPatch, SessionRecord, SessionStore, StoreError,
};
use session_redis::RedisStore;

use crate::support;

const HOUR: Duration = Duration::from_secs(3600);

fn record(clock: &MockClock, i: usize) -> SessionRecord {
    let now = clock.now();
    let mut r = SessionRecord::new(SessionId::generate(), now, now.plus(HOUR));
    r.fields.insert("n", i.to_string());
    r.binding = Some(Box::new(Binding::user("outage-user")));
    r
}

fn patch(clock: &MockClock, i: usize) -> SessionPatch {
    let mut p = SessionPatch {
        last_seen: clock.now(),
        ..SessionPatch::default()
    };
    p.set_fields.insert("saved", (i * 10).to_string());
    p
}

/// Scheduling slack over a bound, for a loaded machine.
const SLACK: Duration = Duration::from_millis(1500);

/// Short timeouts, so calls during an outage fail soon and the bounds
/// checked here are tight (the shared defaults are generous).
fn short_timeouts(clock: &MockClock) -> session_redis::RedisStoreBuilder {
    support::builder(clock)
        .connect_timeout(Duration::from_secs(1))
        .response_timeout(Duration::from_secs(1))
        .operation_timeout(Duration::from_secs(2))
}

/// A standalone store on `server` with [`short_timeouts`].
fn store_on(server: &support::RedisServer, clock: &MockClock) -> RedisStore {
    short_timeouts(clock)
        .url(server.url())
        .build()
        .expect("store")
}

/// Runs `call` and checks it ends within the store's bound (plus scheduling
/// slack).
async fn within_bound<T>(
    store: &RedisStore,
    what: &str,
    call: impl std::future::Future<Output = T>,
) -> (T, Duration) {
    let started = Instant::now();
    let result = call.await;
    let took = started.elapsed();
    assert!(
        took <= store.operation_timeout() + SLACK,
        "{what} took {took:?}, beyond the {:?} bound",
        store.operation_timeout()
    );
    (result, took)
}

/// Runs `call` and checks it fails with a typed outage error within the
/// store's bound.
async fn fails_fast<T: std::fmt::Debug>(
    store: &RedisStore,
    what: &str,
    call: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Duration {
    let (result, took) = within_bound(store, what, call).await;
    match &result {
        Err(e) if e.is_unavailable() => {}
        other => panic!("{what} during the outage gave {other:?}, not Unavailable/Timeout"),
    }
    took
}

/// Loads `id` until Redis answers, every call within the store's bound and
/// every failure an outage error, for at most `limit`, pausing `pause`
/// between calls. The record found, and how many calls failed.
async fn load_until_back(
    store: &RedisStore,
    id: &SessionId,
    limit: Duration,
    pause: Duration,
) -> (Option<SessionRecord>, usize) {
    let started = Instant::now();
    let mut failures = 0;
    loop {
        match within_bound(store, "load", store.load(id)).await.0 {
            Ok(found) => return (found, failures),
            Err(e) => {
                failures += 1;
                assert!(e.is_unavailable(), "unexpected error while recovering: {e}");
                assert!(started.elapsed() < limit, "the store did not recover: {e}");
                tokio::time::sleep(pause).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_fails_fast_and_the_store_recovers_without_losing_acknowledged_writes() {
    let Some(server) = support::private_server(support::DURABLE) else {
        return;
    };
    let clock = MockClock::starting_now();
    let store = store_on(&server, &clock);

    // Acknowledged writes: creates, then a field saved on each.
    let records: Vec<SessionRecord> = (0..20).map(|i| record(&clock, i)).collect();
    for (i, r) in records.iter().enumerate() {
        store.create(r).await.unwrap();
        store.save(&r.id, &patch(&clock, i)).await.unwrap();
    }

    server.kill();
    let mut slowest = Duration::ZERO;
    for r in &records[..3] {
        let id = r.id;
        slowest = slowest.max(fails_fast(&store, "load", store.load(&id)).await);
        slowest =
            slowest.max(fails_fast(&store, "save", store.save(&id, &patch(&clock, 99))).await);
        slowest =
            slowest.max(fails_fast(&store, "create", store.create(&record(&clock, 99))).await);
        slowest = slowest
            .max(fails_fast(&store, "list_for_user", store.list_for_user("outage-user")).await);
    }
    eprintln!("outage: slowest failing call took {slowest:?}");

    // A store built while Redis is down fails the same way.
    let fresh = store_on(&server, &clock);
    fails_fast(
        &fresh,
        "load on a never-connected store",
        fresh.load(&records[0].id),
    )
    .await;

    server.restart();
    let restarted = Instant::now();
    let (recovered, _) = load_until_back(
        &store,
        &records[0].id,
        Duration::from_secs(10),
        Duration::from_millis(50),
    )
    .await;
    eprintln!(
        "outage: store recovered {:?} after the restart",
        restarted.elapsed()
    );
    assert!(recovered.is_some());

    // Every acknowledged write survived the crash.
    for (i, r) in records.iter().enumerate() {
        let back = store.load(&r.id).await.unwrap().expect("session survived");
        assert_eq!(back.fields.get("n"), Some(i.to_string().as_str()));
        assert_eq!(
            back.fields.get("saved"),
            Some((i * 10).to_string().as_str())
        );
        assert_eq!(back.revision, 1);
    }
    assert_eq!(store.list_for_user("outage-user").await.unwrap().len(), 20);
    // Writes work again, on the same store and on the one built during the outage.
    store.save(&records[0].id, &patch(&clock, 7)).await.unwrap();
    let extra = record(&clock, 100);
    fresh.create(&extra).await.unwrap();
    assert!(
        store.load(&extra.id).await.unwrap().is_none(),
        "other prefix"
    );
    assert!(fresh.load(&extra.id).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_server_gives_timeouts_within_the_bound_and_correct_answers_after() {
    let Some(server) = support::private_server(&[]) else {
        return;
    };
    let clock = MockClock::starting_now();
    let store = store_on(&server, &clock);
    let records: Vec<SessionRecord> = (0..5).map(|i| record(&clock, i)).collect();
    for r in &records {
        store.create(r).await.unwrap();
    }

    // The server stops answering but keeps its connections open.
    server.signal("STOP");
    let mut kinds = Vec::new();
    for r in &records[..3] {
        let started = Instant::now();
        let result = store.load(&r.id).await;
        let took = started.elapsed();
        assert!(
            took <= store.operation_timeout() + SLACK,
            "a load took {took:?}"
        );
        match result {
            Err(e @ (StoreError::Timeout(_) | StoreError::Unavailable(_))) => {
                kinds.push(e.to_string())
            }
            other => panic!("a load from a hung server gave {other:?}"),
        }
    }
    eprintln!("hung server: {kinds:?}");
    assert!(
        kinds.iter().any(|k| k.contains("timed out")),
        "no timeout reported: {kinds:?}"
    );

    server.signal("CONT");
    // Answers after the pause belong to their own requests.
    let (found, _) = load_until_back(
        &store,
        &records[4].id,
        Duration::from_secs(10),
        Duration::from_millis(50),
    )
    .await;
    assert_eq!(found.as_ref(), Some(&records[4]));
    for r in &records {
        assert_eq!(store.load(&r.id).await.unwrap().as_ref(), Some(r));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_master_going_down_fails_fast_and_the_store_recovers() {
    let Some(cluster) = support::private_cluster(support::DURABLE) else {
        return;
    };
    let clock = MockClock::starting_now();
    // A connection attempt to the stopped master gives up soon: the
    // cluster client's slot refreshes try it while it is down.
    let store = short_timeouts(&clock)
        .connect_timeout(Duration::from_millis(300))
        .cluster_urls(cluster.urls())
        .build()
        .expect("store");
    let records: Vec<SessionRecord> = (0..30).map(|i| record(&clock, i)).collect();
    for (i, r) in records.iter().enumerate() {
        store.create(r).await.unwrap();
        store.save(&r.id, &patch(&clock, i)).await.unwrap();
    }

    let victim = &cluster.nodes()[0];
    victim.kill();
    let started = Instant::now();
    let results = futures_util::future::join_all(records.iter().map(|r| store.load(&r.id))).await;
    let took = started.elapsed();
    let failed = results.iter().filter(|r| r.is_err()).count();
    for result in &results {
        if let Err(e) = result {
            assert!(e.is_unavailable(), "untyped error: {e}");
        }
    }
    eprintln!("cluster outage: {failed} of 30 loads failed, all within {took:?}");
    assert!(failed > 0, "no session lived on the stopped master");
    assert!(
        took <= store.operation_timeout() + SLACK,
        "loads took {took:?}"
    );

    victim.restart();
    cluster.wait_healthy(Duration::from_secs(20));
    let restarted = Instant::now();
    'recovering: loop {
        for (i, r) in records.iter().enumerate() {
            match store.load(&r.id).await {
                Ok(Some(back)) => {
                    assert_eq!(
                        back.fields.get("saved"),
                        Some((i * 10).to_string().as_str())
                    );
                }
                Ok(None) => panic!("session {i} lost across the restart"),
                Err(e) => {
                    assert!(e.is_unavailable(), "{e}");
                    assert!(
                        restarted.elapsed() < Duration::from_secs(30),
                        "the cluster store did not recover: {e}"
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue 'recovering;
                }
            }
        }
        break;
    }
    eprintln!(
        "cluster outage: store recovered {:?} after the cluster healed",
        restarted.elapsed()
    );
    store.save(&records[0].id, &patch(&clock, 5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_is_replaced_and_a_load_that_met_it_tries_again() {
    let Some(server) = support::private_server(&[]) else {
        return;
    };
    let clock = MockClock::starting_now();
    let store = store_on(&server, &clock);
    let mut admin = support::admin(&server).await;
    let records: Vec<SessionRecord> = (0..3).map(|i| record(&clock, i)).collect();
    for r in &records {
        store.create(r).await.unwrap();
    }
    for (round, r) in records.iter().enumerate() {
        // The server closes the store's connection (not the admin's).
        let killed = support::kill_client_connections(&mut admin).await;
        assert!(killed >= 1, "round {round}: no connection to kill");
        let started = Instant::now();
        let (found, failures) = load_until_back(
            &store,
            &r.id,
            Duration::from_secs(5),
            Duration::from_millis(20),
        )
        .await;
        assert_eq!(found.as_ref(), Some(r));
        eprintln!(
            "dropped connection, round {round}: {failures} call(s) failed, back after {:?}",
            started.elapsed()
        );
        // A load that meets the dead connection tries once more, on the
        // connection made meanwhile: a restart of Redis costs no request.
        assert_eq!(failures, 0, "round {round}: {failures} loads failed");
    }
    for r in &records {
        assert_eq!(store.load(&r.id).await.unwrap().as_ref(), Some(r));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operation_timeout_shorter_than_the_response_timeout_still_bounds_calls() {
    let Some(server) = support::private_server(&[]) else {
        return;
    };
    let clock = MockClock::starting_now();
    // Far below the response timeout, slack included.
    let bound = Duration::from_secs(1);
    let store = support::builder(&clock)
        .url(server.url())
        .response_timeout(Duration::from_secs(5))
        .operation_timeout(bound)
        .build()
        .unwrap();
    let r = record(&clock, 0);
    store.create(&r).await.unwrap();
    assert_eq!(store.load(&r.id).await.unwrap().as_ref(), Some(&r));

    server.signal("STOP");
    // Connected, one command each: bounded without a timer of the store's own.
    for _ in 0..2 {
        let started = Instant::now();
        let result = store.load(&r.id).await;
        let took = started.elapsed();
        assert!(
            matches!(result, Err(StoreError::Timeout(t)) if t == bound),
            "{result:?}"
        );
        assert!(took <= bound + SLACK, "took {took:?}");
        let started = Instant::now();
        let result = store.save(&r.id, &patch(&clock, 1)).await;
        let took = started.elapsed();
        assert!(matches!(result, Err(StoreError::Timeout(_))), "{result:?}");
        assert!(took <= bound + SLACK, "took {took:?}");
    }
    server.signal("CONT");
    let (found, _) = load_until_back(
        &store,
        &r.id,
        Duration::from_secs(10),
        Duration::from_millis(50),
    )
    .await;
    // The timed-out saves may have been applied since.
    assert!(found.is_some());
}

/// `Duration::MAX`, the natural spelling of "no timeout", is accepted for
/// every timeout, and calls then run unbounded instead of panicking on
/// their deadline (standalone and cluster, whose deletes leave a tombstone
/// living past the operation timeout).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_very_long_timeout_does_not_panic_calls() {
    let (Some(server), Some(cluster)) = (support::standalone(), support::cluster()) else {
        return;
    };
    let clock = MockClock::starting_now();
    let unbounded = |builder: session_redis::RedisStoreBuilder| {
        builder
            .key_prefix(support::unique_prefix())
            .clock(std::sync::Arc::new(clock.clone()))
            .response_timeout(Duration::MAX)
    };
    let stores = [
        // The operation timeout defaults to connect + response, saturating.
        unbounded(RedisStore::builder().url(server.url())).build(),
        unbounded(RedisStore::builder().url(server.url()))
            .connect_timeout(Duration::MAX)
            .operation_timeout(Duration::MAX)
            .build(),
        unbounded(RedisStore::builder().cluster_urls(cluster.urls())).build(),
    ];
    for store in stores {
        let store = store.expect("the builder accepts it");
        let (r, clock) = (record(&clock, 0), clock.clone());
        // In a task of its own, so a panic is reported as such.
        let calls = tokio::spawn(async move {
            assert_eq!(store.load(&r.id).await.unwrap(), None);
            store.create(&r).await.unwrap();
            store.save(&r.id, &patch(&clock, 1)).await.unwrap();
            assert!(store.delete(&r.id).await.unwrap());
            assert!(store.list_for_user("outage-user").await.is_ok());
        });
        if let Err(e) = calls.await {
            panic!("a call panicked: {e}");
        }
    }
}

/// A TCP relay to `target` whose established connections can be frozen:
/// from then on it swallows what either side sends and keeps both sockets
/// open, as a half-open connection does (a NAT or load balancer that
/// dropped an idle flow without a reset, a network path gone silent), while
/// new connections are relayed as before.
struct FreezingRelay {
    port: u16,
    frozen: std::sync::Arc<std::sync::Mutex<Vec<std::sync::Arc<std::sync::atomic::AtomicBool>>>>,
}

impl FreezingRelay {
    async fn start(target: u16) -> Self {
        use std::sync::Arc;
        use std::sync::atomic::AtomicBool;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let frozen: Arc<std::sync::Mutex<Vec<Arc<AtomicBool>>>> = Arc::default();
        let connections = frozen.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", target)).await else {
                    continue;
                };
                let flag = Arc::new(AtomicBool::new(false));
                connections.lock().unwrap().push(flag.clone());
                let (client, server) = (Arc::new(client), Arc::new(server));
                tokio::spawn(Self::pipe(client.clone(), server.clone(), flag.clone()));
                tokio::spawn(Self::pipe(server, client, flag));
            }
        });
        Self { port, frozen }
    }

    /// Relays `from` to `to` until either closes; once `frozen`, drops what
    /// `from` sends instead.
    async fn pipe(
        from: std::sync::Arc<tokio::net::TcpStream>,
        to: std::sync::Arc<tokio::net::TcpStream>,
        frozen: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            if from.readable().await.is_err() {
                return;
            }
            let n = match from.try_read(&mut buf) {
                Ok(0) => return,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(_) => return,
            };
            if frozen.load(std::sync::atomic::Ordering::SeqCst) {
                continue;
            }
            let mut sent = 0;
            while sent < n {
                if to.writable().await.is_err() {
                    return;
                }
                match to.try_write(&buf[sent..n]) {
                    Ok(m) => sent += m,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => return,
                }
            }
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Every connection made so far goes silent; new ones still work.
    fn freeze_existing(&self) {
        for flag in self.frozen.lock().unwrap().iter() {
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

/// A connection that went silent without being closed (a half-open TCP
/// connection: a NAT or load balancer dropped the flow without a reset, a
/// network path died) is replaced once its commands keep timing out, while
/// Redis itself answers new connections at once. The store treats every
/// timeout as a slow server and keeps the connection, so it fails every
/// call until the kernel gives up on the connection (many minutes of
/// retransmissions), and never "recovers when Redis is back" meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_gone_silent_is_replaced_after_its_commands_time_out() {
    let Some(server) = support::private_server(&[]) else {
        return;
    };
    let relay = FreezingRelay::start(server.port()).await;
    let clock = MockClock::starting_now();
    let store = short_timeouts(&clock)
        .url(relay.url())
        .build()
        .expect("store");
    let r = record(&clock, 0);
    store.create(&r).await.unwrap();
    assert_eq!(store.load(&r.id).await.unwrap().as_ref(), Some(&r));

    relay.freeze_existing();
    // A new connection through the relay works at once.
    let mut direct = redis::Client::open(relay.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("a new connection is relayed");
    let _: String = redis::cmd("PING").query_async(&mut direct).await.unwrap();

    let (found, failures) = load_until_back(
        &store,
        &r.id,
        Duration::from_secs(10),
        Duration::from_millis(50),
    )
    .await;
    eprintln!("silent connection: {failures} call(s) failed before the store recovered");
    assert_eq!(found.as_ref(), Some(&r));
}

/// Calls that run out of their operation timeout (here while the store
/// waits to connect to a server that stopped answering) are each a `debug`
/// line, and one `warn` line a minute at most counts them (logged on this
/// test's thread, which polls the calls).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_timing_out_are_summed_up_in_one_warning() {
    let Some(server) = support::private_server(&[]) else {
        return;
    };
    let clock = MockClock::starting_now();
    let store = support::builder(&clock)
        .connect_timeout(Duration::from_secs(5))
        .operation_timeout(Duration::from_millis(100))
        .url(server.url())
        .build()
        .expect("store");
    server.signal("STOP");
    let (log, _guard) = session_tests::logs::capture();
    for _ in 0..3 {
        let loaded = store.load(&SessionId::generate()).await;
        assert!(matches!(loaded, Err(StoreError::Timeout(_))), "{loaded:?}");
    }
    server.signal("CONT");
    let text = log.text();
    let warnings: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(" WARN ") && l.contains("timed out since the last report"))
        .collect();
    assert_eq!(warnings.len(), 1, "{text}");
    assert!(warnings[0].contains("timed_out=1"), "{text}");
    let each = text
        .lines()
        .filter(|l| l.contains("DEBUG") && l.contains("redis store call timed out"))
        .count();
    assert_eq!(each, 3, "{text}");
}

/// With the local cache, a connection gone silent also swallows the
/// invalidations of changes made elsewhere, so once it is replaced (its
/// writes keep timing out) every copy goes, as on a lost connection: the
/// next load reads what Redis holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_store_drops_its_copies_when_a_silent_connection_is_replaced() {
    let Some(server) = support::private_server(&[]) else {
        return;
    };
    let relay = FreezingRelay::start(server.port()).await;
    let clock = MockClock::starting_now();
    let prefix = support::unique_prefix();
    let cached = short_timeouts(&clock)
        .url(relay.url())
        .key_prefix(&prefix)
        .local_cache(100)
        .build()
        .expect("store");
    let direct = support::builder(&clock)
        .url(server.url())
        .key_prefix(&prefix)
        .build()
        .expect("store");
    let (r, other) = (record(&clock, 0), record(&clock, 1));
    cached.create(&r).await.unwrap();
    cached.create(&other).await.unwrap();
    // The creates' invalidations are handled.
    cached.ping().await.unwrap();
    assert_eq!(cached.load(&r.id).await.unwrap().as_ref(), Some(&r));

    relay.freeze_existing();
    // Another server's save: its invalidation is lost on the way.
    direct.save(&r.id, &patch(&clock, 1)).await.unwrap();
    assert_eq!(cached.load(&r.id).await.unwrap().as_ref(), Some(&r));
    let started = Instant::now();
    while let Err(e) = cached.save(&other.id, &patch(&clock, 2)).await {
        assert!(e.is_unavailable(), "unexpected error: {e}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the silent connection was not replaced: {e}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let loaded = cached.load(&r.id).await.unwrap().expect("the session");
    assert_eq!(loaded.fields.get("saved"), Some("10"));
}

/// A load whose connection dies late tries once more only within what is
/// left of its operation timeout. Through a proxy that holds the load's
/// command for most of the timeout and then closes the connection, and
/// answers nothing on the connections made after it, the load fails within
/// the timeout instead of the first attempt's time plus a whole second one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_tried_again_stays_within_its_operation_timeout() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    const HOLD: Duration = Duration::from_millis(2400);
    let Some(server) = support::private_server(&[]) else {
        return;
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = listener.local_addr().unwrap();
    let hold = Arc::new(AtomicBool::new(false));
    let upstream = format!("127.0.0.1:{}", server.port());
    let holding = Arc::clone(&hold);
    tokio::spawn(async move {
        let mut first = true;
        loop {
            let Ok((client, _)) = listener.accept().await else {
                return;
            };
            if !std::mem::take(&mut first) {
                // Accepted, never answered.
                tokio::spawn(async move {
                    let _silent = client;
                    tokio::time::sleep(Duration::from_secs(60)).await;
                });
                continue;
            }
            let server = tokio::net::TcpStream::connect(&upstream).await.unwrap();
            let (mut client_read, mut client_write) = client.into_split();
            let (mut server_read, mut server_write) = server.into_split();
            let back = tokio::spawn(async move {
                let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
            });
            let holding = Arc::clone(&holding);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = client_read.read(&mut buf).await {
                    if holding.load(Ordering::SeqCst) {
                        tokio::time::sleep(HOLD).await;
                        break;
                    }
                    if server_write.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                // Both halves dropped: the store's connection is closed.
                back.abort();
            });
        }
    });
    let timeout = Duration::from_secs(3);
    let store = support::builder(&MockClock::starting_now())
        .url(format!("redis://{proxy}"))
        .connect_timeout(Duration::from_secs(3))
        .response_timeout(Duration::from_millis(2500))
        .operation_timeout(timeout)
        .build()
        .unwrap();
    store.ping().await.unwrap();
    hold.store(true, Ordering::SeqCst);
    let started = Instant::now();
    let result = store.load(&SessionId::generate()).await;
    let took = started.elapsed();
    assert!(
        result.as_ref().is_err_and(StoreError::is_unavailable),
        "{result:?}"
    );
    // Past HOLD: the first attempt did end with the closed connection.
    assert!(took >= HOLD, "took {took:?}: {result:?}");
    assert!(
        took <= timeout + SLACK,
        "took {took:?} with a {timeout:?} timeout"
    );
}

/// A load refused a connection (nothing listens) is not sent again: only a
/// connection that went away is worth a second attempt.
#[tokio::test]
async fn a_load_refused_a_connection_is_not_tried_again() {
    let (log, _guard) = session_tests::logs::capture();
    let port = session_tests::redis::free_port();
    let store = support::builder(&MockClock::starting_now())
        .url(format!("redis://127.0.0.1:{port}"))
        .build()
        .unwrap();
    let result = store.load(&SessionId::generate()).await;
    assert!(
        result.as_ref().is_err_and(StoreError::is_unavailable),
        "{result:?}"
    );
    let text = log.text();
    assert!(text.contains("redis is unreachable"), "{text}");
    assert!(!text.contains("loading once more"), "{text}");
}

/// An operator sees an outage begin and end at the default level: a
/// warning once when the connection is lost (not one per failed attempt
/// after it), and a line when it is up again.
#[tokio::test]
async fn a_lost_connection_and_its_recovery_are_logged_once_each() {
    let Some(server) = support::private_server(&[]) else {
        return;
    };
    let clock = MockClock::starting_now();
    let store = store_on(&server, &clock);
    let (log, _guard) = session_tests::logs::capture();
    let id = SessionId::generate();
    assert_eq!(store.load(&id).await.unwrap(), None);
    assert!(!log.text().contains("up again"), "{}", log.text());
    server.kill();
    for _ in 0..3 {
        fails_fast(&store, "load", store.load(&id)).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    server.restart();
    let (found, _) = load_until_back(
        &store,
        &id,
        Duration::from_secs(30),
        Duration::from_millis(100),
    )
    .await;
    assert_eq!(found, None);
    let text = log.text();
    let lost: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(" WARN ") && l.contains("redis connection lost"))
        .collect();
    assert_eq!(lost.len(), 1, "{text}");
    let back: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(" INFO ") && l.contains("redis connection up again"))
        .collect();
    assert_eq!(back.len(), 1, "{text}");
}
