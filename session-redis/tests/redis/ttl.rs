//! The server's own expiry of session hashes and user indexes.

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use session_core::clock::Clock as _;
use session_core::{MockClock, SessionId, SessionPatch, SessionRecord, SessionStore};

use crate::support;

const HOUR: Duration = Duration::from_secs(3600);

fn bound(clock: &MockClock, user: &str, lifetime: Duration) -> SessionRecord {
    support::counter(clock, 1, lifetime, Some(user))
}

async fn expire_time(conn: &mut MultiplexedConnection, key: &str) -> i64 {
    redis::cmd("PEXPIRETIME")
        .arg(key)
        .query_async(conn)
        .await
        .expect("PEXPIRETIME")
}

async fn score(conn: &mut MultiplexedConnection, index: &str, id: &SessionId) -> Option<f64> {
    redis::cmd("ZSCORE")
        .arg(index)
        .arg(id.to_string())
        .query_async(conn)
        .await
        .expect("ZSCORE")
}

fn ms(t: session_core::Timestamp) -> i64 {
    i64::try_from(t.as_millis()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_ttls_match_the_session_expiry() {
    let Some(server) = support::standalone() else {
        return;
    };
    let clock = MockClock::starting_now();
    let store = support::store_on(server, &clock);
    let mut admin = support::admin(server).await;
    let user = format!("u-{}", SessionId::generate());
    let index = store.user_index_key(&user);

    let long = bound(&clock, &user, HOUR * 2);
    let short = bound(&clock, &user, HOUR);
    store.create(&long).await.unwrap();
    store.create(&short).await.unwrap();
    let short_key = store.session_key(&short.id);
    assert_eq!(
        expire_time(&mut admin, &short_key).await,
        ms(short.expires_at)
    );
    assert_eq!(
        expire_time(&mut admin, &store.session_key(&long.id)).await,
        ms(long.expires_at)
    );
    assert_eq!(
        expire_time(&mut admin, &index).await,
        ms(long.expires_at),
        "the index lives as long as its longest session"
    );
    assert_eq!(
        score(&mut admin, &index, &short.id).await,
        Some(ms(short.expires_at) as f64)
    );

    // A data save without a new expiry keeps the TTL.
    clock.advance(Duration::from_secs(60));
    let mut patch = SessionPatch {
        last_seen: clock.now(),
        ..SessionPatch::default()
    };
    patch.set_fields.insert("count", "2");
    store.save(&short.id, &patch).await.unwrap();
    assert_eq!(
        expire_time(&mut admin, &short_key).await,
        ms(short.expires_at)
    );

    // A refresh moves the key's TTL, the index score and the index TTL.
    let later = clock.now().plus(HOUR * 3);
    store
        .touch(&short.id, later, clock.now(), None)
        .await
        .unwrap();
    assert_eq!(expire_time(&mut admin, &short_key).await, ms(later));
    assert_eq!(
        score(&mut admin, &index, &short.id).await,
        Some(ms(later) as f64)
    );
    assert_eq!(expire_time(&mut admin, &index).await, ms(later));
    assert_eq!(
        store.load(&short.id).await.unwrap().unwrap().expires_at,
        later
    );

    // So does a save that carries a new expiry.
    let later = later.plus(HOUR);
    patch.expires_at = Some(later);
    store.save(&short.id, &patch).await.unwrap();
    assert_eq!(expire_time(&mut admin, &short_key).await, ms(later));
    assert_eq!(
        score(&mut admin, &index, &short.id).await,
        Some(ms(later) as f64)
    );

    // Anonymous sessions expire too, and have no index.
    let mut anon = SessionRecord::new(SessionId::generate(), clock.now(), clock.now().plus(HOUR));
    anon.fields.insert("a", "1");
    store.create(&anon).await.unwrap();
    assert_eq!(
        expire_time(&mut admin, &store.session_key(&anon.id)).await,
        ms(anon.expires_at)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_itself_drops_expired_sessions_and_indexes() {
    let Some(server) = support::standalone() else {
        return;
    };
    // The real clock's now: Redis's TTLs follow real time.
    let clock = MockClock::starting_now();
    let store = support::store_on(server, &clock);
    let mut admin = support::admin(server).await;
    let user = format!("u-{}", SessionId::generate());
    // Two seconds from now: long enough to outlast connecting and the
    // checks below on a busy machine.
    let r = bound(&MockClock::starting_now(), &user, Duration::from_secs(2));
    store.create(&r).await.unwrap();
    let key = store.session_key(&r.id);
    let index = store.user_index_key(&user);
    let exists = async |conn: &mut MultiplexedConnection, key: &str| -> bool {
        redis::cmd("EXISTS")
            .arg(key)
            .query_async::<i64>(conn)
            .await
            .unwrap()
            == 1
    };
    assert!(exists(&mut admin, &key).await);
    assert!(exists(&mut admin, &index).await);
    tokio::time::sleep(Duration::from_millis(2600)).await;
    // Asked of Redis directly, with the store's clock not moved at all.
    assert!(
        !exists(&mut admin, &key).await,
        "session hash outlived its expiry"
    );
    assert!(
        !exists(&mut admin, &index).await,
        "user index outlived its sessions"
    );
    assert_eq!(store.load(&r.id).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_at_judges_expiry_by_the_callers_now() {
    let Some(server) = support::standalone() else {
        return;
    };
    let clock = MockClock::starting_now();
    let store = support::store_on(server, &clock);
    let start = clock.now();
    let r = SessionRecord::new(SessionId::generate(), start, start.plus(HOUR));
    store.create(&r).await.unwrap();
    let just_before = session_core::Timestamp::from_millis(r.expires_at.as_millis() - 1);
    assert_eq!(
        store.load_at(&r.id, just_before).await.unwrap(),
        Some(r.clone())
    );
    assert_eq!(store.load_at(&r.id, r.expires_at).await.unwrap(), None);
    assert_eq!(store.load(&r.id).await.unwrap(), Some(r.clone()));
    // The store's own clock past the expiry does not matter either.
    clock.advance(HOUR * 2);
    assert_eq!(store.load(&r.id).await.unwrap(), None);
    assert_eq!(store.load_at(&r.id, start).await.unwrap(), Some(r));
}
