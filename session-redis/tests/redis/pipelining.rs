//! Automatic pipelining: the calls made in one turn of the runtime share one
//! write to Redis, and each still gets its own reply.

use std::time::Duration;

use futures_util::future::join_all;
use session_core::{MockClock, SessionStore, StoreError};

use session_redis::RedisStore;

use crate::support::{RedisServer, admin, builder, counter, info, private_server, store_on};

const HOUR: Duration = Duration::from_secs(3600);

/// Read events Redis has processed (`INFO stats`): one per read of client
/// input, however many commands it held.
async fn reads_processed(conn: &mut redis::aio::MultiplexedConnection) -> u64 {
    info(conn, "stats")
        .await
        .lines()
        .find_map(|line| {
            line.strip_prefix("total_reads_processed:")?
                .trim()
                .parse()
                .ok()
        })
        .expect("total_reads_processed in INFO stats")
}

// One worker, as under load: each request is a task of its own, and tokio
// runs a task woken by another right after it. The loads are spawned by one
// task, so all are runnable before any runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn calls_of_one_turn_share_a_write_and_each_gets_its_own_reply() {
    let Some(server) = private_server(&[]) else {
        return;
    };
    let clock = MockClock::starting_now();
    let store = store_on(&server, &clock);
    let reads = concurrent_loads(&server, &clock, store).await;
    // 64 commands in one write; the second INFO adds a read of its own.
    // Sent one by one, they take about one read each.
    assert!(reads <= 8, "64 loads took {reads} reads on the server");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn without_automatic_pipelining_each_caller_still_gets_its_own_reply() {
    let Some(server) = private_server(&[]) else {
        return;
    };
    let clock = MockClock::starting_now();
    let store = builder(&clock)
        .url(server.url())
        .auto_pipeline(false)
        .build()
        .expect("store");
    concurrent_loads(&server, &clock, store).await;
}

/// Creates 64 sessions, loads them all from tasks spawned at once, checks
/// that each load got its own session, and returns how many reads of client
/// input the server processed meanwhile.
async fn concurrent_loads(server: &RedisServer, clock: &MockClock, store: RedisStore) -> u64 {
    let records: Vec<_> = (0..64).map(|n| counter(clock, n, HOUR, None)).collect();
    for record in &records {
        store.create(record).await.expect("create");
    }
    let mut admin = admin(server).await;
    let before = reads_processed(&mut admin).await;
    let ids: Vec<_> = records.iter().map(|r| r.id).collect();
    let loads = tokio::spawn(async move {
        let tasks: Vec<_> = ids
            .into_iter()
            .map(|id| {
                let store = store.clone();
                tokio::spawn(async move { store.load(&id).await })
            })
            .collect();
        join_all(tasks).await
    });
    let loaded = loads.await.expect("loads");
    let after = reads_processed(&mut admin).await;
    for (record, loaded) in records.iter().zip(loaded) {
        let loaded = loaded.expect("task").expect("load").expect("live session");
        assert_eq!(loaded.id, record.id);
        assert_eq!(loaded.fields, record.fields);
    }
    after - before
}

#[tokio::test]
async fn a_failing_command_fails_only_its_own_caller() {
    let Some(server) = private_server(&[]) else {
        return;
    };
    let clock = MockClock::starting_now();
    let store = store_on(&server, &clock);
    let records: Vec<_> = (0..3).map(|n| counter(&clock, n, HOUR, None)).collect();
    for record in &records {
        store.create(record).await.expect("create");
    }
    // The middle session's key holds a string: HGETALL fails with WRONGTYPE
    // (a corrupt session).
    let mut admin = admin(&server).await;
    let _: () = redis::cmd("SET")
        .arg(store.session_key(&records[1].id))
        .arg("not a hash")
        .query_async(&mut admin)
        .await
        .expect("SET");
    let loaded = join_all(records.iter().map(|r| store.load(&r.id))).await;
    assert_eq!(
        loaded[0].as_ref().expect("first").as_ref().map(|r| r.id),
        Some(records[0].id)
    );
    assert!(
        matches!(loaded[1], Err(StoreError::Corrupt(_))),
        "{:?}",
        loaded[1]
    );
    assert_eq!(
        loaded[2].as_ref().expect("third").as_ref().map(|r| r.id),
        Some(records[2].id)
    );
}
