//! Calls the cluster client sends again: when a node's reply is later than
//! the response timeout, the client sends the command once more, and both
//! attempts run. Each call must still report its own outcome, applied once.

use std::time::Duration;

use session_core::clock::Clock as _;
use session_core::{MockClock, SaveOutcome, SessionId, SessionPatch, SessionStore as _};
use session_redis::RedisStore;

use crate::support::{self, RedisCluster, RedisServer};

/// The stores' response timeout here: shorter than a stall, so the cluster
/// client sends a stalled command again.
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);

/// How long a stall keeps a node busy: well past the response timeout,
/// even after the time taken to see that it started.
const STALL_MS: u64 = 1200;

/// Keeps `server` busy for `ms` milliseconds with a script sent on a
/// connection of its own (commands sent meanwhile wait, then run in order).
/// Returns once the script runs.
async fn stall(server: &RedisServer, ms: u64) -> std::thread::JoinHandle<()> {
    // Connected first: a connection's handshake would wait for the script.
    let mut probe = support::admin(server).await;
    let url = server.url();
    let (connected, sending) = tokio::sync::oneshot::channel();
    let stalled = std::thread::spawn(move || {
        let mut conn = redis::Client::open(url)
            .and_then(|c| c.get_connection())
            .expect("stall connection");
        let _ = connected.send(());
        let busy = "local function ms() local t = redis.call('TIME') \
            return t[1] * 1000 + math.floor(t[2] / 1000) end \
            local start = ms() while ms() - start < tonumber(ARGV[1]) do end return 1";
        let _: i64 = redis::cmd("EVAL")
            .arg(busy)
            .arg(0)
            .arg(ms)
            .query(&mut conn)
            .expect("stall script");
    });
    sending.await.expect("the stall thread connected");
    // The script runs once a PING from elsewhere gets no answer.
    let (started, ping) = (std::time::Instant::now(), redis::cmd("PING"));
    loop {
        let pong = ping.query_async::<String>(&mut probe);
        if tokio::time::timeout(Duration::from_millis(100), pong)
            .await
            .is_err()
        {
            return stalled;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the stall script did not start"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// `EVALSHA` calls `server` has run so far.
async fn script_runs(server: &RedisServer) -> u64 {
    let counts = support::command_counts(&mut support::admin(server).await).await;
    counts.get("evalsha").copied().unwrap_or(0)
}

/// A live session on another node than `node`: calls on it keep the cluster
/// client's dispatcher busy, as other requests do on a server under load
/// (the client sends a retried command only when it is polled again).
async fn session_elsewhere(
    store: &RedisStore,
    cluster: &RedisCluster,
    clock: &MockClock,
    node: usize,
) -> SessionId {
    loop {
        let record = support::counter(clock, 0, Duration::from_secs(600), None);
        store.create(&record).await.expect("create");
        if support::owner(cluster, &store.session_key(&record.id)).await != node {
            return record.id;
        }
    }
}

/// Runs `call` while the node of session `id` is stalled past the response
/// timeout, with other calls going on; asserts that the client did send the
/// script more than once, so that the test shows what it names.
async fn with_retry<T>(
    store: &RedisStore,
    cluster: &RedisCluster,
    clock: &MockClock,
    id: &SessionId,
    call: impl Future<Output = T>,
) -> T {
    let node = support::owner(cluster, &store.session_key(id)).await;
    let server = &cluster.nodes()[node];
    let other = session_elsewhere(store, cluster, clock, node).await;
    let poker = store.clone();
    // Until the call is done (aborted below).
    let poke = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let _ = poker.load(&other).await;
        }
    });
    let before = script_runs(server).await;
    // The response timeout is 500 ms; the call waits about 1,000.
    let stalled = stall(server, STALL_MS).await;
    let result = call.await;
    stalled.join().expect("stall thread");
    poke.abort();
    let runs = script_runs(server).await - before;
    assert!(runs >= 2, "the client sent the script again ({runs} runs)");
    result
}

/// A save setting `count`, compare-and-set on `expected` when given.
fn count_patch(clock: &MockClock, count: &str, expected: Option<u64>) -> SessionPatch {
    let mut patch = SessionPatch {
        last_seen: clock.now(),
        expected_revision: expected,
        ..SessionPatch::default()
    };
    patch.set_fields.insert("count", count.to_owned());
    patch
}

#[tokio::test]
async fn calls_the_cluster_client_sends_again_apply_once_and_report_their_outcome() {
    let Some(cluster) = support::private_cluster(&[]) else {
        return;
    };
    let clock = MockClock::starting_now();
    let store = support::builder(&clock)
        .response_timeout(RESPONSE_TIMEOUT)
        .operation_timeout(Duration::from_secs(4))
        .cluster_urls(cluster.urls())
        .build()
        .expect("store");
    let record = support::counter(&clock, 1, Duration::from_secs(600), None);
    store.create(&record).await.expect("create");
    // Each script is known to every node before the stalls.
    let warm = SessionPatch {
        last_seen: clock.now(),
        ..SessionPatch::default()
    };
    store.save(&record.id, &warm).await.expect("save");
    let scratch = support::counter(&clock, 0, Duration::from_secs(600), None);
    store.create(&scratch).await.expect("create");
    assert!(store.delete(&scratch.id).await.expect("delete"));
    let start = store.load(&record.id).await.expect("load").expect("live");

    // A save that expects a revision: its second attempt finds the revision
    // its first one wrote, which is no conflict.
    let patch = count_patch(&clock, "2", Some(start.revision));
    let outcome = with_retry(&store, &cluster, &clock, &record.id, async {
        store.save(&record.id, &patch).await
    })
    .await;
    assert_eq!(outcome.expect("save"), SaveOutcome::Saved);
    let after = store.load(&record.id).await.expect("load").expect("live");
    assert_eq!(after.revision, start.revision + 1);
    assert_eq!(after.fields.get("count"), Some("2"));

    // A plain save applies once: one revision more, not two.
    let patch = count_patch(&clock, "3", None);
    let outcome = with_retry(&store, &cluster, &clock, &record.id, async {
        store.save(&record.id, &patch).await
    })
    .await;
    assert_eq!(outcome.expect("save"), SaveOutcome::Saved);
    let after = store.load(&record.id).await.expect("load").expect("live");
    assert_eq!(after.revision, start.revision + 2);

    // A delete's second attempt finds nothing to delete, yet the call did
    // delete a live session.
    let deleted = with_retry(&store, &cluster, &clock, &record.id, async {
        store.delete(&record.id).await
    })
    .await;
    assert!(
        deleted.expect("delete"),
        "the delete reports the session it deleted"
    );
    assert!(store.load(&record.id).await.expect("load").is_none());
    // A later delete is a new call: nothing left to delete.
    assert!(!store.delete(&record.id).await.expect("delete"));
}

/// A rotation closes the old record with a compare-and-set save moving its
/// expiry to the epoch; Redis drops the key inside the script
/// (`PEXPIREAT` in the past), and with it the write id kept in `_w`. The
/// attempt the cluster client sends again then finds no key and answers
/// `Missing` for a save that was applied (whenever the client reports that
/// attempt's reply: most times here, so a few closes are sent). The
/// service takes that as a session revoked meanwhile: a plain rotation
/// (`Session::rotate`) withdraws the new record, and the user, whose old
/// record the close already ended, is left with no session at all.
#[tokio::test]
async fn a_close_the_cluster_client_sends_again_reports_it_was_saved() {
    let Some(cluster) = support::private_cluster(&[]) else {
        return;
    };
    let clock = MockClock::starting_now();
    let store = support::builder(&clock)
        .response_timeout(RESPONSE_TIMEOUT)
        .operation_timeout(Duration::from_secs(4))
        .cluster_urls(cluster.urls())
        .build()
        .expect("store");
    let mut outcomes = Vec::new();
    for _ in 0..4 {
        let record = support::counter(&clock, 1, Duration::from_secs(600), Some("u"));
        store.create(&record).await.expect("create");
        // Each script is known to every node before the stall.
        let warm = SessionPatch {
            last_seen: clock.now(),
            ..SessionPatch::default()
        };
        store.save(&record.id, &warm).await.expect("save");
        let start = store.load(&record.id).await.expect("load").expect("live");

        // The close, as `SessionService` sends it.
        let close = SessionPatch {
            expires_at: Some(session_core::Timestamp::EPOCH),
            last_seen: clock.now(),
            expected_revision: Some(start.revision),
            user_id: Some("u".to_owned()),
            ..SessionPatch::default()
        };
        let outcome = with_retry(&store, &cluster, &clock, &record.id, async {
            store.save(&record.id, &close).await
        })
        .await;
        assert!(store.load(&record.id).await.expect("load").is_none());
        outcomes.push(outcome.expect("save"));
    }
    assert!(
        outcomes.iter().all(|o| *o == SaveOutcome::Saved),
        "closes that were applied, reported as finding no session: {outcomes:?}"
    );
}
