//! The stored format: versioned, and damaged or unknown records are reported
//! as corrupt and never written over.

use std::time::Duration;

use redis::aio::{ConnectionLike, MultiplexedConnection};
use session_core::clock::Clock as _;
use session_core::{
    Binding, MockClock, SaveOutcome, SessionId, SessionPatch, SessionRecord, SessionStore,
    StoreError,
};
use session_redis::RedisStore;

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

async fn hget(conn: &mut MultiplexedConnection, key: &str, field: &str) -> String {
    redis::cmd("HGET")
        .arg(key)
        .arg(field)
        .query_async(conn)
        .await
        .unwrap()
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
    assert_eq!(names, ["_b", "_m", "_u", "f:count", "l:notice"]);
    let get = |name: &str| {
        stored
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let packed = format!(
        "2:{}:{}:{}:0",
        r.created_at.as_millis(),
        r.last_seen.as_millis(),
        r.expires_at.as_millis()
    );
    assert_eq!(get("_m"), Some(packed.as_str()));
    assert_eq!(get("_u"), Some("ada"));
    assert_eq!(get("f:count"), Some("1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scripts_rewrite_the_packed_metadata_exactly() {
    let Some(server) = support::standalone() else {
        return;
    };
    let clock = MockClock::starting_now();
    let store = support::store_on(server, &clock);
    let mut admin = support::admin(server).await;
    let now = clock.now();
    let r = SessionRecord::new(
        SessionId::generate(),
        now,
        now.plus(Duration::from_secs(60)),
    );
    store.create(&r).await.unwrap();
    let key = store.session_key(&r.id);
    // A data change expecting `revision`, with a last seen long past.
    let save = |revision: u64| {
        let mut patch = SessionPatch {
            last_seen: session_core::Timestamp::from_millis(5),
            expected_revision: Some(revision),
            ..SessionPatch::default()
        };
        patch.set_fields.insert("count", "2");
        patch
    };
    let created = r.created_at.as_millis();
    // Revisions carry over digits, and values past 2^53 (where Lua's numbers
    // lose precision) are copied and incremented exactly.
    for (stored, bumped) in [
        ("9", "10"),
        ("199", "200"),
        ("9007199254740993", "9007199254740994"),
        ("18446744073709551614", "18446744073709551615"),
    ] {
        let far = "9007199254740993";
        hset(
            &mut admin,
            &key,
            "_m",
            &format!("2:{created}:{far}:{far}:{stored}"),
        )
        .await;
        let expected: u64 = stored.parse().unwrap();
        let outcome = store.save(&r.id, &save(expected)).await.unwrap();
        assert_eq!(outcome, SaveOutcome::Saved);
        assert_eq!(
            hget(&mut admin, &key, "_m").await,
            format!("2:{created}:{far}:{far}:{bumped}"),
            "last seen only moves later; the expiry is kept"
        );
        let back = store.load(&r.id).await.unwrap().unwrap();
        assert_eq!(back.revision.to_string(), bumped);
        assert_eq!(back.expires_at.as_millis(), 9_007_199_254_740_993);
    }
    // A stale revision is refused, naming the stored one.
    assert_eq!(
        store.save(&r.id, &save(3)).await.unwrap(),
        SaveOutcome::Conflict { current: u64::MAX }
    );
    // A touch moves last seen and expiry as given, and keeps the revision.
    let later = now.plus(Duration::from_secs(600)).as_millis();
    hset(
        &mut admin,
        &key,
        "_m",
        &format!("2:{created}:{created}:{later}:7"),
    )
    .await;
    let seen = created + 1000;
    let expires = later + 1000;
    store
        .touch(
            &r.id,
            session_core::Timestamp::from_millis(expires),
            session_core::Timestamp::from_millis(seen),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        hget(&mut admin, &key, "_m").await,
        format!("2:{created}:{seen}:{expires}:7")
    );
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
    let legacy = make().await;
    let healthy = make().await;
    let stray = SessionId::generate();
    let rewrite_meta = async |admin: &mut MultiplexedConnection, id: &SessionId, part, value| {
        let key = store.session_key(id);
        let meta = hget(admin, &key, "_m").await;
        let mut parts: Vec<&str> = meta.split(':').collect();
        parts[part] = value;
        hset(admin, &key, "_m", &parts.join(":")).await;
    };
    rewrite_meta(&mut admin, &newer.id, 0, "3").await;
    rewrite_meta(&mut admin, &damaged.id, 3, "soon").await;
    // Layout 1: one hash field per metadata item, the version in `_v`.
    let legacy_key = store.session_key(&legacy.id);
    let _: i64 = redis::cmd("HDEL")
        .arg(&legacy_key)
        .arg("_m")
        .query_async(&mut admin)
        .await
        .unwrap();
    for (field, value) in [("_v", "1"), ("_c", "1"), ("_s", "1"), ("_r", "0")] {
        hset(&mut admin, &legacy_key, field, value).await;
    }
    let far = clock.now().plus(Duration::from_secs(600)).as_millis();
    hset(&mut admin, &legacy_key, "_e", &far.to_string()).await;
    hset(&mut admin, &store.session_key(&stray), "f:count", "1").await;

    let mut patch = SessionPatch {
        last_seen: clock.now(),
        expires_at: Some(clock.now().plus(Duration::from_secs(900))),
        ..SessionPatch::default()
    };
    patch.set_fields.insert("count", "2");
    for (id, what) in [
        (newer.id, "version \"3\""),
        (damaged.id, "expiry \"soon\""),
        (legacy.id, "version \"1\""),
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
            store.touch(&id, later, clock.now(), None).await,
            Err(StoreError::Corrupt(_))
        ));
        assert_eq!(
            hgetall(&mut admin, &key).await,
            before,
            "a corrupt record was written"
        );
    }
    // Listings skip what they cannot read, and go on.
    assert_eq!(support::listed(&store, &user).await, vec![healthy.id]);
    assert_eq!(
        store.save(&healthy.id, &patch).await.unwrap(),
        SaveOutcome::Saved
    );
}

/// A data change of `count` at the clock's now, expecting `revision` when
/// given.
fn count_patch(clock: &MockClock, revision: Option<u64>) -> SessionPatch {
    let mut patch = SessionPatch {
        last_seen: clock.now(),
        expected_revision: revision,
        ..SessionPatch::default()
    };
    patch.set_fields.insert("count", "2");
    patch
}

/// What `load` reports as corrupt the scripts refuse to write, and what it
/// reads they write: numbers past `u64::MAX` in any part of `_m` are damaged
/// to both, leading zeros are read by both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scripts_and_the_decoder_agree_on_damaged_metadata() {
    let Some(server) = support::standalone() else {
        return;
    };
    let clock = MockClock::starting_now();
    let store = support::store_on(server, &clock);
    let mut admin = support::admin(server).await;
    let user = format!("u-{}", SessionId::generate());
    let c = clock.now().as_millis();
    let e = clock.now().plus(Duration::from_secs(60)).as_millis();
    let past = "18446744073709551616";
    let long = "000000000000000000000000000";
    for meta in [
        format!("2:{past}:{c}:{e}:0"),
        format!("2:{c}:{past}:{e}:0"),
        format!("2:{c}:{c}:99999999999999999999:0"),
        format!("2:{c}:{c}:{long}{past}:0"),
        format!("2:{c}:{c}:{e}:{past}"),
        format!("2:{c}:{c}:{e}:1{long}"),
    ] {
        let r = support::counter(&clock, 1, Duration::from_secs(60), Some(&user));
        store.create(&r).await.unwrap();
        let key = store.session_key(&r.id);
        hset(&mut admin, &key, "_m", &meta).await;
        let before = hgetall(&mut admin, &key).await;
        assert!(
            matches!(store.load(&r.id).await, Err(StoreError::Corrupt(_))),
            "{meta}"
        );
        let saved = store.save(&r.id, &count_patch(&clock, None)).await;
        assert!(
            matches!(saved, Err(StoreError::Corrupt(_))),
            "{meta}: {saved:?}"
        );
        let later = clock.now().plus(Duration::from_secs(600));
        let touched = store.touch(&r.id, later, clock.now(), None).await;
        assert!(
            matches!(touched, Err(StoreError::Corrupt(_))),
            "{meta}: {touched:?}"
        );
        assert!(matches!(store.create(&r).await, Err(StoreError::Collision)));
        assert_eq!(
            hgetall(&mut admin, &key).await,
            before,
            "{meta} was written"
        );
        assert_eq!(support::listed(&store, &user).await, vec![], "{meta}");
        let _: i64 = redis::cmd("DEL")
            .arg(&key)
            .query_async(&mut admin)
            .await
            .unwrap();
    }

    // Leading zeros, however many, are read as the number by both.
    let r = support::counter(&clock, 1, Duration::from_secs(60), None);
    store.create(&r).await.unwrap();
    let key = store.session_key(&r.id);
    hset(
        &mut admin,
        &key,
        "_m",
        &format!("2:{long}{c}:0{c}:{long}{e}:{long}"),
    )
    .await;
    let loaded = store.load(&r.id).await.unwrap().unwrap();
    assert_eq!(
        (loaded.created_at, loaded.expires_at, loaded.revision),
        (r.created_at, r.expires_at, 0)
    );
    let saved = store.save(&r.id, &count_patch(&clock, Some(0))).await;
    assert_eq!(saved.unwrap(), SaveOutcome::Saved);
    assert_eq!(
        hget(&mut admin, &key, "_m").await,
        format!("2:{c}:{c}:{e}:1"),
        "rewritten plain"
    );

    // A revision that cannot grow is not wrapped or written past `u64::MAX`.
    hset(
        &mut admin,
        &key,
        "_m",
        &format!("2:{c}:{c}:{e}:{}", u64::MAX),
    )
    .await;
    let before = hgetall(&mut admin, &key).await;
    assert_eq!(store.load(&r.id).await.unwrap().unwrap().revision, u64::MAX);
    let saved = store
        .save(&r.id, &count_patch(&clock, Some(u64::MAX)))
        .await;
    assert!(matches!(saved, Err(StoreError::Corrupt(_))), "{saved:?}");
    assert_eq!(hgetall(&mut admin, &key).await, before);
}

/// A compare-and-set save expecting the revision `load` returned applies,
/// however the stored revision is spelled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revision_as_loaded_is_accepted_by_compare_and_set() {
    let Some(server) = support::standalone() else {
        return;
    };
    let clock = MockClock::starting_now();
    let store = support::store_on(server, &clock);
    let mut admin = support::admin(server).await;
    let c = clock.now().as_millis();
    let e = clock.now().plus(Duration::from_secs(60)).as_millis();
    let r = support::counter(&clock, 1, Duration::from_secs(60), None);
    store.create(&r).await.unwrap();
    let key = store.session_key(&r.id);
    hset(&mut admin, &key, "_m", &format!("2:{c}:{c}:{e}:07")).await;
    let loaded = store.load(&r.id).await.unwrap().unwrap();
    assert_eq!(loaded.revision, 7);
    let stale = store.save(&r.id, &count_patch(&clock, Some(6))).await;
    assert_eq!(stale.unwrap(), SaveOutcome::Conflict { current: 7 });
    let saved = store
        .save(&r.id, &count_patch(&clock, Some(loaded.revision)))
        .await;
    assert_eq!(saved.unwrap(), SaveOutcome::Saved);
    assert_eq!(store.load(&r.id).await.unwrap().unwrap().revision, 8);
}

async fn get(admin: &mut (impl ConnectionLike + Send), key: &str) -> String {
    redis::cmd("GET").arg(key).query_async(admin).await.unwrap()
}

/// A session key holding another type than a hash is damaged data:
/// `Corrupt` to `load` (no session, not a 503), skipped by listings, refused
/// by writes and left as it is, but removed by `delete`.
async fn a_session_key_of_another_type_is_corrupt(
    store: RedisStore,
    clock: MockClock,
    admin: &mut (impl ConnectionLike + Send),
) {
    let user = format!("u-{}", SessionId::generate());
    let bound = || support::counter(&clock, 1, Duration::from_secs(60), Some(&user));
    let (healthy, damaged) = (bound(), bound());
    store.create(&healthy).await.unwrap();
    store.create(&damaged).await.unwrap();
    let key = store.session_key(&damaged.id);
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg("garbage")
        .query_async(admin)
        .await
        .unwrap();

    let loaded = store.load(&damaged.id).await;
    assert!(matches!(loaded, Err(StoreError::Corrupt(_))), "{loaded:?}");
    assert_eq!(support::listed(&store, &user).await, vec![healthy.id]);
    let mut all = Vec::new();
    let mut page = session_core::PageRequest::first(100);
    loop {
        let listed = store.list(page.clone()).await.unwrap();
        all.extend(listed.items.into_iter().map(|i| i.id));
        match listed.next {
            Some(next) => page.cursor = Some(next),
            None => break,
        }
    }
    assert!(all.contains(&healthy.id) && !all.contains(&damaged.id));

    let later = clock.now().plus(Duration::from_secs(600));
    let saved = store.save(&damaged.id, &count_patch(&clock, None)).await;
    assert!(matches!(saved, Err(StoreError::Corrupt(_))), "{saved:?}");
    for user in [None, Some(user.as_str())] {
        let touched = store.touch(&damaged.id, later, clock.now(), user).await;
        assert!(
            matches!(touched, Err(StoreError::Corrupt(_))),
            "{touched:?}"
        );
    }
    let created = store.create(&damaged).await;
    assert!(matches!(created, Err(StoreError::Collision)), "{created:?}");
    assert_eq!(get(admin, &key).await, "garbage", "written over");

    // Revoking all cannot tell it is this user's: it stays.
    assert_eq!(store.delete_for_user(&user, None).await.unwrap(), 1);
    assert_eq!(get(admin, &key).await, "garbage");
    assert!(store.delete(&damaged.id).await.unwrap());
    assert_eq!(store.load(&damaged.id).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_key_of_another_type_is_corrupt_and_skipped_by_listings() {
    let (Some(server), Some(cluster)) = (support::standalone(), support::cluster()) else {
        return;
    };
    let clock = MockClock::starting_now();
    let mut admin = support::admin(server).await;
    let store = support::store_on(server, &clock);
    a_session_key_of_another_type_is_corrupt(store, clock.clone(), &mut admin).await;
    // Over RESP3.
    let cached = support::builder(&clock)
        .url(server.url())
        .local_cache(100)
        .build()
        .unwrap();
    a_session_key_of_another_type_is_corrupt(cached, clock.clone(), &mut admin).await;
    let store = support::cluster_store_on(cluster, &clock);
    let mut admin = support::cluster_admin(cluster).await;
    a_session_key_of_another_type_is_corrupt(store, clock, &mut admin).await;
}
