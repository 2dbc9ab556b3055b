//! Redis Cluster slots changing hands under load: a slot served elsewhere
//! than by its master that went silent without closing its connections (a
//! frozen process or machine, a network path that drops packets) is
//! followed, and calls on a slot a reshard is migrating wait for it.

use std::time::{Duration, Instant};

use session_core::{MockClock, SessionStore as _};

use crate::support;

/// `CLUSTER SETSLOT slot state id`.
fn setslot(slot: i64, state: &str, id: &str) -> redis::Cmd {
    redis::cmd("CLUSTER")
        .arg("SETSLOT")
        .arg(slot)
        .arg(state)
        .arg(id)
        .clone()
}

/// The node id of the server on `port` (`CLUSTER MYID`).
async fn node_id(server: &support::RedisServer) -> String {
    redis::cmd("CLUSTER")
        .arg("MYID")
        .query_async(&mut support::admin(server).await)
        .await
        .expect("CLUSTER MYID")
}

/// Moves `slot`, and `key` in it, from the master `from` to the master
/// `to`, and tells every node (`CLUSTER SETSLOT .. NODE`): what a reshard
/// or a replica's fail-over does to a slot.
async fn move_slot(
    cluster: &support::RedisCluster,
    (from, to): (usize, usize),
    slot: i64,
    key: &str,
) {
    let nodes = cluster.nodes();
    let (from_id, to_id) = (node_id(&nodes[from]).await, node_id(&nodes[to]).await);
    let (mut source, mut target) = (
        support::admin(&nodes[from]).await,
        support::admin(&nodes[to]).await,
    );
    let _: () = setslot(slot, "IMPORTING", &from_id)
        .query_async(&mut target)
        .await
        .expect("SETSLOT IMPORTING");
    let _: () = setslot(slot, "MIGRATING", &to_id)
        .query_async(&mut source)
        .await
        .expect("SETSLOT MIGRATING");
    let _: () = redis::cmd("MIGRATE")
        .arg("127.0.0.1")
        .arg(nodes[to].port())
        .arg("")
        .arg(0)
        .arg(5000)
        .arg("KEYS")
        .arg(key)
        .query_async(&mut source)
        .await
        .expect("MIGRATE");
    // The new owner first: its claim is the one the others take.
    for node in [to, from, 3 - from - to] {
        let _: () = setslot(slot, "NODE", &to_id)
            .query_async(&mut support::admin(&nodes[node]).await)
            .await
            .expect("SETSLOT NODE");
    }
}

/// A master that went silent with its connections open is never
/// redirected from: it cannot answer `MOVED`, and the cluster client sends
/// a command that timed out again to the same node, so it learns of no new
/// slot map. When a slot of such a master is served elsewhere (a replica
/// took over, a reshard moved it), every call on it timed out for as long
/// as the node stayed silent: after a fail-over away from a frozen machine,
/// until the kernel gave up on the connection (many minutes). The store
/// now replaces the cluster connection once calls keep timing out, and the
/// new one reads the slot map from the nodes that answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_served_elsewhere_than_its_silent_master_is_followed() {
    // The other masters keep serving their slots while one is silent.
    let Some(cluster) = support::private_cluster(&["--cluster-require-full-coverage", "no"]) else {
        return;
    };
    let clock = MockClock::starting_now();
    let store = support::builder(&clock)
        .cluster_urls(cluster.urls())
        .connect_timeout(Duration::from_millis(500))
        .response_timeout(Duration::from_millis(500))
        .operation_timeout(Duration::from_secs(1))
        .build()
        .expect("store");
    let r = support::counter(&clock, 1, Duration::from_secs(3600), None);
    store.create(&r).await.expect("create");
    // The client knows the session's master, and has a connection to it.
    assert!(store.load(&r.id).await.expect("load").is_some());
    let key = store.session_key(&r.id);
    let from = support::owner(&cluster, &key).await;
    let to = (from + 1) % 3;
    let slot: i64 = redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(&key)
        .query_async(&mut support::admin(&cluster.nodes()[to]).await)
        .await
        .expect("CLUSTER KEYSLOT");
    move_slot(&cluster, (from, to), slot, &key).await;
    // Before the client sends anything for the slot, its old master goes
    // silent: connections stay open, nothing is answered.
    cluster.nodes()[from].signal("STOP");

    let started = Instant::now();
    let mut failures = 0;
    let found = loop {
        match store.load(&r.id).await {
            Ok(found) => break found,
            Err(e) => {
                assert!(e.is_unavailable(), "{e}");
                failures += 1;
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "every load timed out for 30 s ({failures} calls): {e}"
                );
            }
        }
    };
    eprintln!(
        "silent master: {failures} load(s) failed, back after {:?}",
        started.elapsed()
    );
    assert_eq!(found.map(|f| f.id), Some(r.id));
    cluster.nodes()[from].signal("CONT");
}

/// How many commands `server` refused with `TRYAGAIN` so far.
async fn tryagain_count(server: &support::RedisServer) -> u64 {
    support::info(&mut support::admin(server).await, "errorstats")
        .await
        .lines()
        .find_map(|line| line.strip_prefix("errorstat_TRYAGAIN:count="))
        .map_or(0, |n| n.trim().parse().expect("a count"))
}

/// Runs `call` while `key`'s slot migrates (`MIGRATING` on its master,
/// `IMPORTING` on another, the key not moved yet), as every slot does for
/// the time a reshard takes to move its keys; once its master has refused
/// more commands with `TRYAGAIN` than the cluster client sends again by
/// itself, the migration ends (`key` moved, if it exists), and `call`'s
/// outcome is returned.
async fn while_migrating<T: Send + 'static>(
    cluster: &support::RedisCluster,
    key: &str,
    call: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    let nodes = cluster.nodes();
    let from = support::owner(cluster, key).await;
    let to = (from + 1) % 3;
    let (from_id, to_id) = (node_id(&nodes[from]).await, node_id(&nodes[to]).await);
    let slot: i64 = redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(key)
        .query_async(&mut support::admin(&nodes[from]).await)
        .await
        .expect("CLUSTER KEYSLOT");
    let _: () = setslot(slot, "IMPORTING", &from_id)
        .query_async(&mut support::admin(&nodes[to]).await)
        .await
        .expect("SETSLOT IMPORTING");
    let _: () = setslot(slot, "MIGRATING", &to_id)
        .query_async(&mut support::admin(&nodes[from]).await)
        .await
        .expect("SETSLOT MIGRATING");
    // Refused by the master when some keys are there, else by the node the
    // master sends it to (`ASK`).
    let refused =
        || async { tryagain_count(&nodes[from]).await + tryagain_count(&nodes[to]).await };
    let before = refused().await;
    let call = tokio::spawn(call);
    // The client's own retries: the first attempt and three more.
    let started = Instant::now();
    while !call.is_finished() && refused().await < before + 5 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no command refused for 10 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    move_slot(cluster, (from, to), slot, key).await;
    call.await.expect("the call's task")
}

/// A reshard moves a slot's keys one batch at a time, and while it does,
/// Redis refuses a command of several keys in that slot with `TRYAGAIN`
/// when some of them are not where the command went (a key already moved,
/// or one that does not exist). The store's scripts name such keys: a
/// delete its session's tombstone, a login's index step the create marker.
/// The cluster client sends a refused command again only three times
/// within about 100 ms, so a logout or a login whose slot was migrating
/// failed with 503 for as long as the slot's migration lasted. The store
/// now sends it again until its response timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_on_a_slot_being_migrated_wait_for_the_migration() {
    let Some(cluster) = support::private_cluster(&[]) else {
        return;
    };
    let clock = MockClock::starting_now();
    let store = support::cluster_store_on(&cluster, &clock);
    let r = support::counter(&clock, 1, Duration::from_secs(3600), Some("ada"));
    store.create(&r).await.expect("create");

    let deleting = store.clone();
    let deleted = while_migrating(&cluster, &store.session_key(&r.id), async move {
        deleting.delete(&r.id).await
    })
    .await;
    assert!(deleted.expect("delete during the migration"));
    assert!(store.load(&r.id).await.expect("load").is_none());

    let login = support::counter(&clock, 1, Duration::from_secs(3600), Some("ada"));
    let creating = store.clone();
    let created = while_migrating(&cluster, &store.user_index_key("ada"), {
        let login = login.clone();
        async move { creating.create(&login).await }
    })
    .await;
    created.expect("login during the migration");
    assert_eq!(support::listed(&store, "ada").await, [login.id]);
}
