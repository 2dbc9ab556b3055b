//! A store outlives the runtime that made its connection: a `static` store
//! shared by tests that each run their own runtime, or a store built in one
//! runtime and used in another. The connection's driver task dies with its
//! runtime; the store connects again from the runtime of the next call, so
//! that call (a write included) succeeds, and a local cache forgets what it
//! can no longer hear invalidations for.

use std::time::Duration;

use session_core::clock::Clock as _;
use session_core::{MockClock, SessionPatch, SessionStore as _};
use session_redis::RedisStore;

use crate::support;

const HOUR: Duration = Duration::from_secs(3600);

/// Runs `f` on a runtime of its own, which shuts down after it.
fn on_a_runtime<T>(f: impl Future<Output = T>) -> T {
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    rt.block_on(f)
}

/// Creates a record on one runtime after another: each create is the
/// first call on a runtime after the last one shut down.
async fn create_and_load(store: &RedisStore, clock: &MockClock) {
    let record = support::counter(clock, 1, HOUR, None);
    store
        .create(&record)
        .await
        .expect("the first call, a write");
    let loaded = store.load(&record.id).await.expect("load");
    assert_eq!(loaded.map(|r| r.id), Some(record.id));
}

fn survives_runtimes(store: &RedisStore, clock: &MockClock) {
    for _ in 0..3 {
        on_a_runtime(create_and_load(store, clock));
    }
}

#[test]
fn a_standalone_store_connects_again_after_its_runtime_ended() {
    let Some(server) = support::standalone() else {
        return;
    };
    let clock = MockClock::starting_now();
    survives_runtimes(&support::store_on(server, &clock), &clock);
    let unpipelined = support::builder(&clock)
        .url(server.url())
        .auto_pipeline(false)
        .build()
        .expect("store");
    survives_runtimes(&unpipelined, &clock);
}

#[test]
fn a_cluster_store_connects_again_after_its_runtime_ended() {
    let Some(cluster) = support::cluster() else {
        return;
    };
    let clock = MockClock::starting_now();
    survives_runtimes(&support::cluster_store_on(cluster, &clock), &clock);
}

/// A cached copy made on a runtime that has since shut down is not served
/// after a change the cache could not hear of.
#[test]
fn a_cached_copy_goes_when_the_runtime_of_its_invalidations_ends() {
    let Some(server) = support::standalone() else {
        return;
    };
    let clock = MockClock::starting_now();
    let prefix = support::unique_prefix();
    let on_server = || {
        support::builder(&clock)
            .key_prefix(&prefix)
            .url(server.url())
    };
    let cached = on_server().local_cache(100).build().expect("store");
    let other = on_server().build().expect("store");
    let record = support::counter(&clock, 1, HOUR, None);
    on_a_runtime(async {
        cached.create(&record).await.expect("create");
        // Loaded twice: the second is served from the copy.
        for _ in 0..2 {
            assert!(cached.load(&record.id).await.expect("load").is_some());
        }
    });
    on_a_runtime(async {
        let mut patch = SessionPatch {
            last_seen: clock.now(),
            ..SessionPatch::default()
        };
        patch.set_fields.insert("count", "2".to_owned());
        let saved = other
            .save(&record.id, &patch)
            .await
            .expect("save elsewhere");
        assert_eq!(saved, session_core::SaveOutcome::Saved);
        let loaded = cached.load(&record.id).await.expect("load");
        assert_eq!(
            loaded.and_then(|r| r.fields.get("count").map(str::to_owned)),
            Some("2".to_owned())
        );
    });
}

/// A runtime that shuts down with a pipelined command queued and its flush
/// task not yet run leaves no flush pending for ever: a later call on
/// another runtime is sent, not left waiting.
#[test]
fn a_flush_cut_short_by_a_runtime_ending_does_not_stall_later_calls() {
    let Some(server) = support::standalone() else {
        return;
    };
    let clock = MockClock::starting_now();
    let store = support::store_on(server, &clock);
    let record = support::counter(&clock, 1, HOUR, None);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async {
        store.create(&record).await.expect("create");
        // Polled once: the load's command is queued and its flush task
        // spawned, which never runs.
        let mut load = std::pin::pin!(store.load(&record.id));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(load.as_mut().poll(&mut cx).is_pending());
    });
    drop(rt);
    on_a_runtime(async {
        let loaded = tokio::time::timeout(Duration::from_secs(10), store.load(&record.id))
            .await
            .expect("the load is sent, not left waiting for a flush");
        assert!(loaded.expect("load").is_some());
    });
}
