//! The stored format: versioned, and damaged or unknown records are reported
//! as corrupt and never written over.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use session_core::clock::Clock as _;
use session_core::{
    Binding, MockClock, SaveOutcome, SessionId, SessionPatch, SessionRecord, SessionStore,
    StoreError,
};

use crate::support;

async fn hgetall(conn: &mut MultiplexedConnection, key: &str) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = redis::cmd("HGETALL")
        .arg(key)
        .query_async(conn)
        .await
        .unwrap();
    all.sort();
    all
}

async fn hset(conn: &mut MultiplexedConnection, key: &str, field: &str, value: &str) {
    let _: i64 = redis::cmd("HSET")
        .arg(key)
        .arg(field)
        .arg(value)
        .query_async(conn)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hash_holds_a_format_version_and_the_metadata() {
    let Some(server) = support::standalone() else {
        return;
    };
    let clock = MockClock::starting_now();
    let store = support::store_on(server, &clock);
    let mut admin = support::admin(server).await;
    let now = clock.now();
    let mut r = SessionRecord::new(
        SessionId::generate(),
        now,
        now.plus(Duration::from_secs(60)),
    );
    r.fields.insert("count", "1");
    r.flash.insert("notice", "\"hi\"");
    r.binding = Some(Box::new(
        Binding::user("ada").with_meta(serde_json::json!({"device": {"os": "linux"}})),
    ));
    store.create(&r).await.unwrap();
    let stored = hgetall(&mut admin, &store.session_key(&r.id)).await;
    let names: Vec<&str> = stored.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "_b", "_c", "_e", "_r", "_s", "_u", "_v", "f:count", "l:notice"
        ]
    );
    let get = |name: &str| {
        stored
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("_v"), Some("1"));
    assert_eq!(
        get("_e"),
        Some(r.expires_at.as_millis().to_string().as_str())
    );
    assert_eq!(get("_u"), Some("ada"));
    assert_eq!(get("f:count"), Some("1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_versions_and_damaged_records_are_corrupt_and_left_alone() {
    let Some(server) = support::standalone() else {
        return;
    };
    let clock = MockClock::starting_now();
    let store = support::store_on(server, &clock);
    let mut admin = support::admin(server).await;
    let user = format!("u-{}", SessionId::generate());
    let make = async || {
        let now = clock.now();
        let mut r = SessionRecord::new(
            SessionId::generate(),
            now,
            now.plus(Duration::from_secs(600)),
        );
        r.fields.insert("count", "1");
        r.binding = Some(Box::new(Binding::user(&user)));
        store.create(&r).await.unwrap();
        r
    };
    let newer = make().await;
    let damaged = make().await;
    let healthy = make().await;
    let stray = SessionId::generate();
    hset(&mut admin, &store.session_key(&newer.id), "_v", "2").await;
    hset(&mut admin, &store.session_key(&damaged.id), "_e", "soon").await;
    hset(&mut admin, &store.session_key(&stray), "f:count", "1").await;

    let mut patch = SessionPatch {
        last_seen: clock.now(),
        expires_at: Some(clock.now().plus(Duration::from_secs(900))),
        ..SessionPatch::default()
    };
    patch.set_fields.insert("count", "2");
    for (id, what) in [
        (newer.id, "version \"2\""),
        (damaged.id, "expiry"),
        (stray, "no format version"),
    ] {
        let key = store.session_key(&id);
        let before = hgetall(&mut admin, &key).await;
        match store.load(&id).await {
            Err(StoreError::Corrupt(m)) => assert!(m.contains(what), "{m}"),
            other => panic!("load gave {other:?}"),
        }
        assert!(matches!(
            store.save(&id, &patch).await,
            Err(StoreError::Corrupt(_))
        ));
        let later = clock.now().plus(Duration::from_secs(900));
        assert!(matches!(
            store.touch(&id, later, clock.now()).await,
            Err(StoreError::Corrupt(_))
        ));
        assert_eq!(
            hgetall(&mut admin, &key).await,
            before,
            "a corrupt record was written"
        );
    }
    // Listings skip what they cannot read, and go on.
    let listed: Vec<SessionId> = store
        .list_for_user(&user)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(listed, vec![healthy.id]);
    assert_eq!(
        store.save(&healthy.id, &patch).await.unwrap(),
        SaveOutcome::Saved
    );
}
