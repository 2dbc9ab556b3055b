//! The per-user index: expired, deleted, stale and foreign entries leave it,
//! and never lead to listing or deleting a session that is not the user's.

use std::time::Duration;

use redis::aio::ConnectionLike;
use redis::cluster_routing::Slot;
use session_core::clock::Clock as _;
use session_core::{
    MockClock, PageRequest, SaveOutcome, SessionId, SessionPatch, SessionRecord, SessionStore,
    Timestamp,
};
use session_redis::RedisStore;

use crate::{monitor, support};

const MINUTE: Duration = Duration::from_secs(60);

fn bound(clock: &MockClock, user: &str, lifetime: Duration) -> SessionRecord {
    support::counter(clock, 1, lifetime, Some(user))
}

/// A save of `count = 2` that moves the expiry to `expires_at` and names
/// `user`.
fn refreshing_write(clock: &MockClock, expires_at: Timestamp, user: &str) -> SessionPatch {
    let mut patch = SessionPatch {
        last_seen: clock.now(),
        expires_at: Some(expires_at),
        user_id: Some(user.to_owned()),
        ..SessionPatch::default()
    };
    patch.set_fields.insert("count", "2");
    patch
}

async fn members(conn: &mut (impl ConnectionLike + Send), index: &str) -> Vec<String> {
    let mut members: Vec<String> = redis::cmd("ZRANGE")
        .arg(index)
        .arg(0)
        .arg(-1)
        .query_async(conn)
        .await
        .expect("ZRANGE");
    members.sort();
    members
}

async fn zadd(conn: &mut (impl ConnectionLike + Send), index: &str, score: u64, member: &str) {
    let _: i64 = redis::cmd("ZADD")
        .arg(index)
        .arg(score)
        .arg(member)
        .query_async(conn)
        .await
        .expect("ZADD");
}

fn sorted(ids: &[&SessionId]) -> Vec<String> {
    let mut out: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
    out.sort();
    out
}

async fn index_is_cleaned(
    store: RedisStore,
    clock: MockClock,
    admin: &mut (impl ConnectionLike + Send),
) {
    let user = format!("u-{}", SessionId::generate());
    let index = store.user_index_key(&user);
    let short = bound(&clock, &user, MINUTE * 10);
    let deleted = bound(&clock, &user, MINUTE * 60);
    let kept = bound(&clock, &user, MINUTE * 60);
    let foreign = bound(&clock, "someone-else", MINUTE * 60);
    for r in [&short, &deleted, &kept, &foreign] {
        store.create(r).await.unwrap();
    }
    assert_eq!(
        members(admin, &index).await,
        sorted(&[&short.id, &deleted.id, &kept.id])
    );

    // A deleted session leaves the index at once.
    assert!(store.delete(&deleted.id).await.unwrap());
    assert_eq!(members(admin, &index).await, sorted(&[&short.id, &kept.id]));

    // Entries that point at nothing, at garbage, or at another user's session.
    let far = clock.now().plus(MINUTE * 120).as_millis();
    let ghost = SessionId::generate();
    zadd(admin, &index, far, &ghost.to_string()).await;
    zadd(admin, &index, far, "not-a-session-id").await;
    zadd(admin, &index, far, &foreign.id.to_string()).await;

    // The short session expires (by the store's clock; Redis still holds it).
    clock.advance(MINUTE * 20);
    assert_eq!(support::listed(&store, &user).await, vec![kept.id]);
    assert_eq!(
        members(admin, &index).await,
        sorted(&[&kept.id]),
        "expired, deleted, ghost, garbage and foreign entries were removed"
    );

    // Revoking all never deletes another user's session named by a bad entry.
    zadd(admin, &index, far, &foreign.id.to_string()).await;
    assert_eq!(store.delete_for_user(&user, None).await.unwrap(), 1);
    assert!(store.load(&foreign.id).await.unwrap().is_some());
    assert_eq!(store.load(&kept.id).await.unwrap(), None);
    assert!(members(admin, &index).await.is_empty());

    // A login trims entries that expired since.
    let old = bound(&clock, &user, MINUTE);
    store.create(&old).await.unwrap();
    clock.advance(MINUTE * 2);
    let fresh = bound(&clock, &user, MINUTE * 60);
    store.create(&fresh).await.unwrap();
    assert_eq!(members(admin, &index).await, sorted(&[&fresh.id]));
}

/// A refresh that names the user moves the index entry before (or with) the
/// session: when the index step fails, the session keeps its old expiry and
/// data, so a live session never drops out of its user's index (and out of
/// revoke-all's reach) at its old expiry.
async fn a_failed_index_step_leaves_the_session_unrefreshed(
    store: RedisStore,
    clock: MockClock,
    admin: &mut (impl ConnectionLike + Send),
) {
    let user = format!("u-{}", SessionId::generate());
    let index = store.user_index_key(&user);
    let r = bound(&clock, &user, MINUTE * 60);
    store.create(&r).await.unwrap();
    // The index key now holds a string: every sorted-set command on it fails.
    let _: () = redis::cmd("SET")
        .arg(&index)
        .arg("not a sorted set")
        .query_async(admin)
        .await
        .expect("SET");
    clock.advance(MINUTE * 40);
    let later = clock.now().plus(MINUTE * 60);
    let touched = store.touch(&r.id, later, clock.now(), Some(&user)).await;
    assert!(
        touched.is_err(),
        "the index step cannot succeed: {touched:?}"
    );
    let patch = refreshing_write(&clock, later, &user);
    let saved = store.save(&r.id, &patch).await;
    assert!(saved.is_err(), "the index step cannot succeed: {saved:?}");
    let back = store.load(&r.id).await.unwrap().expect("still live");
    assert_eq!(
        back.expires_at, r.expires_at,
        "refreshed without its index entry"
    );
    assert_eq!(back.fields, r.fields, "a failed save wrote its fields");

    // With the index sound again, the refresh lands and the session stays
    // listed past its old expiry.
    let _: i64 = redis::cmd("DEL")
        .arg(&index)
        .query_async(admin)
        .await
        .expect("DEL");
    assert_eq!(
        store
            .touch(&r.id, later, clock.now(), Some(&user))
            .await
            .unwrap(),
        SaveOutcome::Saved
    );
    clock.advance(MINUTE * 30);
    assert_eq!(support::listed(&store, &user).await, [r.id]);
    assert_eq!(store.delete_for_user(&user, None).await.unwrap(), 1);
}

/// A refresh that names another user than the session's still moves the
/// entry in the index of the user the session is bound to, and lists the
/// session for no one else.
async fn a_refresh_naming_the_wrong_user_moves_the_right_entry(
    store: RedisStore,
    clock: MockClock,
    _admin: &mut (impl ConnectionLike + Send),
) {
    let user = format!("u-{}", SessionId::generate());
    let other = format!("o-{}", SessionId::generate());
    let r = bound(&clock, &user, MINUTE * 60);
    store.create(&r).await.unwrap();
    clock.advance(MINUTE * 40);
    let later = clock.now().plus(MINUTE * 60);
    let touched = store.touch(&r.id, later, clock.now(), Some(&other)).await;
    assert_eq!(touched.unwrap(), SaveOutcome::Saved);
    clock.advance(MINUTE * 30);
    // A login elsewhere past the old expiry trims the index.
    let elsewhere = bound(&clock, &user, MINUTE * 60);
    store.create(&elsewhere).await.unwrap();
    let mut listed = support::listed(&store, &user).await;
    listed.sort();
    let mut both = [r.id, elsewhere.id];
    both.sort();
    assert_eq!(listed, both);
    assert!(store.list_for_user(&other).await.unwrap().is_empty());
    assert_eq!(store.delete_for_user(&other, None).await.unwrap(), 0);
    assert_eq!(store.delete_for_user(&user, None).await.unwrap(), 2);
}

/// A refresh of a session that is gone leaves no entry in the index of the
/// user it names, also in a cluster, where the index entry moves in a step
/// of its own before the session's script.
async fn a_refresh_of_a_missing_session_leaves_no_index_entry(
    store: RedisStore,
    clock: MockClock,
    admin: &mut (impl ConnectionLike + Send),
) {
    let user = format!("u-{}", SessionId::generate());
    let index = store.user_index_key(&user);
    let live = bound(&clock, &user, MINUTE * 60);
    store.create(&live).await.unwrap();
    // A hash on another slot than the index: in a cluster, the step before
    // the script.
    let gone = std::iter::repeat_with(SessionId::generate)
        .find(|id| Slot::for_key(store.session_key(id)) != Slot::for_key(&index))
        .expect("an id on another slot");
    let later = clock.now().plus(MINUTE * 90);
    let touched = store.touch(&gone, later, clock.now(), Some(&user)).await;
    assert_eq!(touched.unwrap(), SaveOutcome::Missing);
    let patch = refreshing_write(&clock, later, &user);
    let saved = store.save(&gone, &patch).await;
    assert_eq!(saved.unwrap(), SaveOutcome::Missing);
    assert_eq!(members(admin, &index).await, sorted(&[&live.id]));
}

/// A create the client sends again after it was applied (its reply lost
/// with a connection, say) reports success, not a collision that would make
/// the caller create a second session; another record under that id still
/// collides.
async fn a_create_sent_again_after_it_was_applied_succeeds(
    store: RedisStore,
    clock: MockClock,
    admin: &mut (impl ConnectionLike + Send),
) {
    let user = format!("u-{}", SessionId::generate());
    let index = store.user_index_key(&user);
    let r = bound(&clock, &user, MINUTE * 60);
    store.create(&r).await.unwrap();
    store.create(&r).await.expect("the same create again");
    assert_eq!(store.load(&r.id).await.unwrap(), Some(r.clone()));
    assert_eq!(members(admin, &index).await, sorted(&[&r.id]));

    let mut other = bound(&clock, &user, MINUTE * 60);
    other.id = r.id;
    other.fields.insert("count", "2");
    assert!(matches!(
        store.create(&other).await,
        Err(session_core::StoreError::Collision)
    ));
    let mut anonymous = r.clone();
    anonymous.binding = None;
    assert!(matches!(
        store.create(&anonymous).await,
        Err(session_core::StoreError::Collision)
    ));
    assert_eq!(store.load(&r.id).await.unwrap(), Some(r));
}

/// A standalone and a cluster test of `$case(store, clock, admin)`.
macro_rules! standalone_and_cluster {
    ($case:ident: $standalone:ident, $cluster:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $standalone() {
            let Some(server) = support::standalone() else {
                return;
            };
            let clock = MockClock::starting_now();
            let store = support::store_on(server, &clock);
            let mut admin = support::admin(server).await;
            $case(store, clock, &mut admin).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $cluster() {
            let Some(cluster) = support::cluster() else {
                return;
            };
            let clock = MockClock::starting_now();
            let store = support::cluster_store_on(cluster, &clock);
            let mut admin = support::cluster_admin(cluster).await;
            $case(store, clock, &mut admin).await;
        }
    };
}

standalone_and_cluster!(index_is_cleaned: user_index_is_cleaned_standalone, user_index_is_cleaned_cluster);
standalone_and_cluster!(
    a_failed_index_step_leaves_the_session_unrefreshed:
        a_failed_index_step_leaves_the_session_unrefreshed_standalone,
        a_failed_index_step_leaves_the_session_unrefreshed_cluster
);
standalone_and_cluster!(
    a_refresh_naming_the_wrong_user_moves_the_right_entry:
        a_refresh_naming_the_wrong_user_moves_the_right_entry_standalone,
        a_refresh_naming_the_wrong_user_moves_the_right_entry_cluster
);
standalone_and_cluster!(
    a_create_sent_again_after_it_was_applied_succeeds:
        a_create_sent_again_after_it_was_applied_succeeds_standalone,
        a_create_sent_again_after_it_was_applied_succeeds_cluster
);
standalone_and_cluster!(
    a_refresh_of_a_missing_session_leaves_no_index_entry:
        a_refresh_of_a_missing_session_leaves_no_index_entry_standalone,
        a_refresh_of_a_missing_session_leaves_no_index_entry_cluster
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_spread_over_the_cluster_and_list_from_every_master() {
    let Some(cluster) = support::cluster() else {
        return;
    };
    let clock = MockClock::starting_now();
    let store = support::cluster_store_on(cluster, &clock);
    let mut ids = Vec::new();
    for _ in 0..30 {
        let r = bound(&clock, "spread", MINUTE);
        store.create(&r).await.unwrap();
        ids.push(r.id);
    }
    let mut holding = 0;
    for node in cluster.nodes() {
        let mut conn = support::admin(node).await;
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}s:*", store.key_prefix()))
            .query_async(&mut conn)
            .await
            .unwrap();
        holding += usize::from(!keys.is_empty());
    }
    assert_eq!(holding, 3, "every master holds some sessions");
    let mut seen = Vec::new();
    let mut page = session_core::PageRequest::first(4);
    loop {
        let p = store.list(page.clone()).await.unwrap();
        assert!(p.items.len() <= 4);
        seen.extend(p.items.into_iter().map(|i| i.id));
        match p.next {
            Some(next) => page.cursor = Some(next),
            None => break,
        }
    }
    seen.sort();
    ids.sort();
    assert_eq!(seen, ids);
}

/// A page cursor naming a node no longer in the cluster (a master that
/// failed over or left) moves on to the next node instead of failing on
/// every retry, so a listing in progress still finishes. Only a version 1
/// cursor, which names masters by address, can do that under an unchanged
/// slot map. A version 2 cursor names them by id, and the map is built from
/// ids: one naming an unknown id under the same map is from no page of this
/// store, and is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_cursor_naming_a_departed_node_moves_on_to_the_next() {
    let Some(cluster) = support::cluster() else {
        return;
    };
    let clock = MockClock::starting_now();
    let store = support::cluster_store_on(cluster, &clock);
    let ids = counters(&store, &clock, 12).await;
    let first = store.list(PageRequest::first(1)).await.unwrap();
    let cursor = first.next.expect("more pages");
    let parts: Vec<&str> = cursor.split('|').collect();
    assert_eq!(parts.len(), 5, "{cursor}");
    // A version 1 cursor naming an address no longer in the cluster:
    // "0.0.0.0:1" sorts before every 127.0.0.1 node, so all of them follow.
    let departed = format!("1|0.0.0.0:1|5|{}", parts[3]);
    let page = store
        .list(PageRequest {
            cursor: Some(departed.clone()),
            limit: 1000,
        })
        .await
        .expect("a page from a departed node's cursor");
    assert_eq!(page.next, None, "{departed}");
    let listed: Vec<SessionId> = page.items.into_iter().map(|i| i.id).collect();
    for id in &ids {
        assert!(listed.contains(id), "every master is scanned: {departed}");
    }
    let forged = format!("2|{}|5|{}|{}", "0".repeat(40), parts[3], parts[4]);
    let refused = store
        .list(PageRequest {
            cursor: Some(forged.clone()),
            limit: 1000,
        })
        .await;
    assert!(
        matches!(refused, Err(session_core::StoreError::InvalidCursor(ref c)) if *c == forged),
        "{refused:?}"
    );
}

/// `(id, number of slots)` of the node at `port`, from its `CLUSTER NODES`.
fn node_id_and_slots(port: u16) -> (String, usize) {
    let out = std::process::Command::new("redis-cli")
        .args(["-p", &port.to_string(), "cluster", "nodes"])
        .output()
        .expect("redis-cli");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = text
        .lines()
        .find(|l| l.contains("myself"))
        .expect("myself line")
        .to_owned();
    let fields: Vec<&str> = line.split_whitespace().collect();
    let slots = fields[8..]
        .iter()
        .filter(|r| !r.starts_with('['))
        .map(|r| match r.split_once('-') {
            Some((a, b)) => b.parse::<usize>().unwrap() - a.parse::<usize>().unwrap() + 1,
            None => 1,
        })
        .sum();
    (fields[0].to_owned(), slots)
}

/// A session live for the whole listing is on some page, even when a
/// reshard between pages moves slots from a master not yet scanned to one
/// already scanned: the next page finds another slot map and scans every
/// master again (sessions may then be listed twice, across pages).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_across_a_reshard_lists_every_session() {
    let Some(cluster) = support::private_cluster(&[]) else {
        return;
    };
    let clock = MockClock::starting_now();
    let store = support::cluster_store_on(&cluster, &clock);
    let ids = counters(&store, &clock, 30).await;
    // Nodes in the order the listing visits them: by node id.
    let mut ports: Vec<u16> = cluster.nodes().iter().map(|n| n.port()).collect();
    ports.sort_by_key(|p| node_id_and_slots(*p).0);
    let (first, last) = (ports[0], ports[2]);
    let first_id = node_id_and_slots(first).0;
    let mut seen = Vec::new();
    let mut page = PageRequest::first(1);
    // Page until the first master is done.
    loop {
        let p = store.list(page.clone()).await.expect("page");
        seen.extend(p.items.into_iter().map(|i| i.id));
        let next = p.next.expect("more pages");
        page.cursor = Some(next.clone());
        if !next.contains(&format!("|{first_id}|")) {
            break;
        }
    }
    // Every slot of the last master moves to the first (already scanned).
    let (_, count) = node_id_and_slots(last);
    reshard(last, first, count);
    // Every session is still there.
    for id in &ids {
        assert!(store.load(id).await.expect("load").is_some());
    }
    loop {
        let p = store.list(page.clone()).await.expect("page");
        seen.extend(p.items.into_iter().map(|i| i.id));
        match p.next {
            Some(next) => page.cursor = Some(next),
            None => break,
        }
    }
    seen.sort();
    seen.dedup();
    let missed = ids.iter().filter(|id| !seen.contains(id)).count();
    assert_eq!(
        missed,
        0,
        "{missed} of {} live sessions on no page",
        ids.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_while_a_login_is_half_done_keeps_the_new_entry_cluster() {
    // Its own cluster: the test pauses writes on one node.
    let Some(cluster) = support::private_cluster(&[]) else {
        return;
    };
    let clock = MockClock::starting_now();
    let store = support::cluster_store_on(&cluster, &clock);
    // Another app server: its reads do not wait behind the create's held
    // script on the store's own connection.
    let lister = support::builder(&clock)
        .cluster_urls(cluster.urls())
        .key_prefix(store.key_prefix())
        .build()
        .expect("store");
    let user = format!("u-{}", SessionId::generate());
    let index = store.user_index_key(&user);
    let index_node = support::owner(&cluster, &index).await;
    let (r, session_node) = loop {
        let r = bound(&clock, &user, MINUTE * 60);
        let node = support::owner(&cluster, &store.session_key(&r.id)).await;
        if node != index_node {
            break (r, node);
        }
    };
    // The session's node holds writes back: the create's index step (on
    // the index's node) completes, its script waits.
    let paused = &cluster.nodes()[session_node];
    support::pause_writes(paused, 30_000).await;
    let creating = {
        let (store, r) = (store.clone(), r.clone());
        tokio::spawn(async move { store.create(&r).await })
    };
    support::wait_blocked(paused, 1).await;
    let entries: i64 = redis::cmd("ZCARD")
        .arg(&index)
        .query_async(&mut support::admin(&cluster.nodes()[index_node]).await)
        .await
        .unwrap();
    assert_eq!(entries, 1, "the index step ran before the script");
    // A listing now finds an entry whose session does not exist yet.
    assert!(lister.list_for_user(&user).await.unwrap().is_empty());
    support::unpause(paused).await;
    creating.await.unwrap().unwrap();
    assert_eq!(support::listed(&store, &user).await, [r.id]);
}

/// A listing that reads a session as expired removes its entry only if no
/// refresh raised it since: a refresh from another app server that reaches
/// Redis between the listing's read and its cleanup keeps the session
/// listed, and revocable by `delete_for_user`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_does_not_unindex_a_session_refreshed_meanwhile() {
    // Its own server: the test pauses writes.
    let Some(server) = support::private_server(&[]) else {
        return;
    };
    let clock = MockClock::starting_now();
    let prefix = support::unique_prefix();
    // Two app servers on one Redis, one clock.
    let on_server = || {
        support::builder(&clock)
            .url(server.url())
            .key_prefix(&prefix)
            .build()
            .expect("store")
    };
    let (lister, toucher) = (on_server(), on_server());
    let user = format!("u-{}", SessionId::generate());
    let r = bound(&clock, &user, MINUTE);
    lister.create(&r).await.unwrap();
    // Both connections up and every script loaded, so nothing but the
    // paused scripts waits below.
    assert_eq!(support::listed(&lister, &user).await, vec![r.id]);
    let now = clock.now();
    toucher
        .touch(&SessionId::generate(), now.plus(MINUTE), now, Some(&user))
        .await
        .unwrap();

    // Just before the expiry a request refreshes the session; its script
    // reaches Redis later (held by the pause).
    let before_expiry = Timestamp::from_millis(r.expires_at.as_millis() - 1);
    clock.set(before_expiry);
    support::pause_writes(&server, 30_000).await;
    let touch = {
        let (toucher, id, user) = (toucher.clone(), r.id, user.clone());
        let expires = before_expiry.plus(MINUTE * 10);
        tokio::spawn(async move {
            toucher
                .touch(&id, expires, before_expiry, Some(&user))
                .await
        })
    };
    support::wait_blocked(&server, 1).await;
    // Past the old expiry, a listing on the other server reads the session
    // as expired; its cleanup waits behind the refresh.
    clock.advance(Duration::from_millis(2));
    let listing = {
        let (lister, user) = (lister.clone(), user.clone());
        tokio::spawn(async move { lister.list_for_user(&user).await })
    };
    // The listing's reads are done once its cleanup waits too (or it ended).
    let started = std::time::Instant::now();
    while !listing.is_finished() && support::blocked_clients(&server).await < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the listing neither ended nor waited"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    support::unpause(&server).await;
    assert_eq!(touch.await.unwrap().unwrap(), SaveOutcome::Saved);
    assert_eq!(
        listing.await.unwrap().unwrap(),
        vec![],
        "expired at its now"
    );

    assert!(lister.load(&r.id).await.unwrap().is_some());
    assert_eq!(
        support::listed(&lister, &user).await,
        vec![r.id],
        "the refreshed session is still listed"
    );
    assert_eq!(lister.delete_for_user(&user, None).await.unwrap(), 1);
    assert!(lister.load(&r.id).await.unwrap().is_none());
    server.stop();
}

/// `list` while other keys of the database come and go, so Redis shrinks
/// its table between `SCAN` steps: every session is listed, none twice on
/// one page. (`SCAN` may return a key again after a shrink, so a session
/// can appear on two pages: see the crate docs.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_across_keyspace_shrinks_lists_every_session() {
    // Its own server, with a faster cron, so the table shrinks soon after
    // keys go.
    let Some(server) = support::private_server(&["--hz", "100"]) else {
        return;
    };
    let clock = MockClock::starting_now();
    let store = support::store_on(&server, &clock);
    let mut admin = support::admin(&server).await;
    let mut created = std::collections::HashSet::new();
    for _ in 0..400 {
        let r = support::counter(&clock, 0, MINUTE * 10, None);
        store.create(&r).await.unwrap();
        created.insert(r.id);
    }
    // Another app's keys in the same database.
    let others = async |admin: &mut redis::aio::MultiplexedConnection, set: bool| {
        let mut pipe = redis::pipe();
        for i in 0..8_000 {
            match set {
                true => pipe.cmd("SET").arg(format!("other:{i}")).arg("x"),
                false => pipe.cmd("UNLINK").arg(format!("other:{i}")),
            }
            .ignore();
        }
        let _: () = pipe.query_async(admin).await.unwrap();
    };
    others(&mut admin, true).await;
    let mut present = true;
    let (mut seen, mut repeats) = (std::collections::HashSet::new(), 0);
    let mut request = session_core::PageRequest::first(10);
    loop {
        let page = store.list(request.clone()).await.unwrap();
        let on_page: std::collections::HashSet<_> = page.items.iter().map(|i| i.id).collect();
        assert_eq!(
            on_page.len(),
            page.items.len(),
            "a session twice on one page"
        );
        for id in on_page {
            repeats += usize::from(!seen.insert(id));
        }
        if present {
            others(&mut admin, false).await;
            // Redis shrinks its table at its next cron runs.
            tokio::time::sleep(Duration::from_millis(200)).await;
        } else {
            others(&mut admin, true).await;
        }
        present = !present;
        match page.next {
            Some(next) => request.cursor = Some(next),
            None => break,
        }
    }
    assert!(created.is_subset(&seen), "a live session was not listed");
    eprintln!("{repeats} sessions listed again on a later page");
    server.stop();
}

/// A session present for the whole listing is listed even when its slot
/// moves, during the listing's last page, from a master that page has not
/// scanned yet to one it already has: the map changed within the page, and
/// no later page is left to notice. Here the listing is one page; the
/// middle master holds many other keys so its scan takes a while, and the
/// slot moves (a complete migration, owner changed everywhere it matters)
/// while that scan runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_moved_during_the_last_page_loses_no_session() {
    let Some(cluster) = support::private_cluster(&["--enable-debug-command", "yes"]) else {
        return;
    };
    let clock = MockClock::starting_now();
    let store = support::builder(&clock)
        .response_timeout(Duration::from_secs(5))
        .operation_timeout(Duration::from_secs(20))
        .cluster_urls(cluster.urls())
        .build()
        .expect("store");
    let nodes = cluster.nodes();
    // Nodes in the order the listing visits them: by node id.
    let mut order: Vec<usize> = (0..nodes.len()).collect();
    order.sort_by_key(|&i| node_id_and_slots(nodes[i].port()).0);
    let (first, middle, last) = (order[0], order[1], order[2]);
    // Sessions, one of them on the last master.
    let mut ids = Vec::new();
    let moved = loop {
        let r = support::counter(&clock, 1, MINUTE, None);
        store.create(&r).await.expect("create");
        ids.push(r.id);
        let key = store.session_key(&r.id);
        if support::owner(&cluster, &key).await == last {
            break key;
        }
    };
    let mut to = support::admin(&nodes[first]).await;
    let mut from = support::admin(&nodes[last]).await;
    let slot = keyslot(&mut from, &moved).await;
    let (from_id, _) = node_id_and_slots(nodes[last].port());
    let (to_id, _) = node_id_and_slots(nodes[first].port());
    // Keys the listing does not match make the middle master's scan long.
    let mut middle_admin = support::admin(&nodes[middle]).await;
    let _: () = redis::cmd("DEBUG")
        .arg("POPULATE")
        .arg(300_000)
        .arg("junk")
        .query_async(&mut middle_admin)
        .await
        .expect("DEBUG POPULATE");
    let mut monitor = monitor::Monitor::start(&nodes[middle].url()).await;
    let listing = tokio::spawn({
        let store = store.clone();
        async move {
            let mut seen = Vec::new();
            let mut page = PageRequest::first(1000);
            loop {
                let p = store.list(page.clone()).await.expect("page");
                seen.extend(p.items.into_iter().map(|i| i.id));
                match p.next {
                    Some(next) => page.cursor = Some(next),
                    None => return seen,
                }
            }
        }
    });
    // Once the first master is scanned (the middle one is being scanned),
    // the slot moves from the last master to the first.
    loop {
        let seen = monitor.take(&mut middle_admin).await;
        if seen.iter().any(|s| s.name() == "scan") {
            break;
        }
        assert!(!listing.is_finished(), "the listing ended before the move");
    }
    start_migration(
        (&mut from, &from_id),
        (&mut to, &to_id, nodes[first].port()),
        slot,
        &moved,
    )
    .await;
    for conn in [&mut to, &mut from] {
        let _: () = redis::cmd("CLUSTER")
            .arg("SETSLOT")
            .arg(slot)
            .arg("NODE")
            .arg(&to_id)
            .query_async(conn)
            .await
            .unwrap();
    }
    let still_scanning = !listing.is_finished();
    let seen = listing.await.expect("listing");
    assert!(still_scanning, "the move came after the listing ended");
    // Every session is still there.
    for id in &ids {
        assert!(store.load(id).await.expect("load").is_some());
    }
    let missed: Vec<_> = ids.iter().filter(|id| !seen.contains(id)).collect();
    assert!(
        missed.is_empty(),
        "{} of {} live sessions on no page (the one moved during the last page)",
        missed.len(),
        ids.len()
    );
}

/// Lists every page of a listing with pages of `limit`, the ids seen or the
/// first error.
/// The hash slot of `key`.
async fn keyslot(conn: &mut redis::aio::MultiplexedConnection, key: &str) -> i64 {
    redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(key)
        .query_async(conn)
        .await
        .expect("CLUSTER KEYSLOT")
}

/// Starts moving `slot` from one master to another and moves `key` with
/// it; the source stays the slot's owner until `CLUSTER SETSLOT .. NODE`.
async fn start_migration(
    (from, from_id): (&mut redis::aio::MultiplexedConnection, &str),
    (to, to_id, to_port): (&mut redis::aio::MultiplexedConnection, &str, u16),
    slot: i64,
    key: &str,
) {
    let _: () = redis::cmd("CLUSTER")
        .arg("SETSLOT")
        .arg(slot)
        .arg("IMPORTING")
        .arg(from_id)
        .query_async(to)
        .await
        .expect("SETSLOT IMPORTING");
    let _: () = redis::cmd("CLUSTER")
        .arg("SETSLOT")
        .arg(slot)
        .arg("MIGRATING")
        .arg(to_id)
        .query_async(from)
        .await
        .expect("SETSLOT MIGRATING");
    let _: () = redis::cmd("MIGRATE")
        .arg("127.0.0.1")
        .arg(to_port)
        .arg("")
        .arg(0)
        .arg(5000)
        .arg("KEYS")
        .arg(key)
        .query_async(from)
        .await
        .expect("MIGRATE");
}

/// `n` counter sessions created in `store`, live for a minute.
async fn counters(store: &RedisStore, clock: &MockClock, n: usize) -> Vec<SessionId> {
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        let r = support::counter(clock, 1, MINUTE, None);
        store.create(&r).await.expect("create");
        ids.push(r.id);
    }
    ids
}

async fn list_all(store: &RedisStore, limit: usize) -> Result<Vec<SessionId>, String> {
    let mut seen = Vec::new();
    let mut page = PageRequest::first(limit);
    for _ in 0..1000 {
        let p = store.list(page.clone()).await.map_err(|e| e.to_string())?;
        seen.extend(p.items.into_iter().map(|i| i.id));
        match p.next {
            Some(next) => page.cursor = Some(next),
            None => return Ok(seen),
        }
    }
    Err("the listing did not end in 1000 pages".into())
}

/// The case the version 2 cursor was made for: nodes of one steady cluster
/// know a master by different addresses. Here every node listens on
/// 127.0.0.1 and 127.0.0.2 and connects out from 127.0.0.2, so the first
/// node (met at 127.0.0.1) knows itself as 127.0.0.1 while the others know
/// it as 127.0.0.2. The slot map (built from ids) is the same from every
/// node, and every address works; a listing must still finish, without
/// reconnects. Scanning a master at the address the page's random node
/// reports would fail ("Requested connection not found") whenever the
/// cluster client's own map names the master otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_whose_nodes_know_a_master_by_different_addresses_lists_every_page() {
    let Some(cluster) = support::private_cluster(&[
        "--bind",
        "127.0.0.1",
        "127.0.0.2",
        "--bind-source-addr",
        "127.0.0.2",
    ]) else {
        return;
    };
    // The views differ (the precondition, not the defect).
    let views: Vec<String> = cluster
        .nodes()
        .iter()
        .map(|n| {
            let out = std::process::Command::new("redis-cli")
                .args(["-p", &n.port().to_string(), "cluster", "slots"])
                .output()
                .expect("redis-cli");
            String::from_utf8_lossy(&out.stdout).into_owned()
        })
        .collect();
    assert!(
        views.iter().any(|v| v != &views[0]),
        "every node reports the same addresses: {views:?}"
    );
    let clock = MockClock::starting_now();
    let store = support::cluster_store_on(&cluster, &clock);
    let ids = counters(&store, &clock, 12).await;
    // Connections the nodes accepted so far (the store's are made).
    let accepted = || async {
        let mut total = 0u64;
        for node in cluster.nodes() {
            let stats = support::info(&mut support::admin(node).await, "stats").await;
            total += stats
                .lines()
                .find_map(|l| l.strip_prefix("total_connections_received:"))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .expect("total_connections_received");
            // This admin connection itself.
            total -= 1;
        }
        total
    };
    list_all(&store, 3).await.ok();
    let before = accepted().await;
    let started = std::time::Instant::now();
    let mut failures = Vec::new();
    for _ in 0..20 {
        match list_all(&store, 3).await {
            Ok(seen) => {
                let missed = ids.iter().filter(|id| !seen.contains(id)).count();
                assert_eq!(missed, 0, "{missed} of {} sessions on no page", ids.len());
            }
            Err(e) => failures.push(e),
        }
    }
    let elapsed = started.elapsed();
    // Less the first count's own admin connections, one per node.
    let opened = accepted().await - before - cluster.nodes().len() as u64;
    eprintln!(
        "20 listings: {elapsed:?}, {opened} new connections, {} failed",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of 20 listings failed, first: {}",
        failures.len(),
        failures[0]
    );
    // A `SCAN` at an address the client has no connection for is retried
    // after reconnecting to every node and refreshing the slot map.
    assert_eq!(
        opened, 0,
        "listings on a steady cluster opened {opened} connections (reconnects) in {elapsed:?}"
    );
}

/// A cluster of one master (common in development) reports its own address
/// as an empty host in `CLUSTER SLOTS` (it never received a `MEET`, so it
/// never learned it); clients use the address they asked, as the cluster
/// client does for every other command. A listing must too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_node_cluster_lists_its_sessions() {
    let Some(server) = support::private_server(&[
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        "nodes.conf",
    ]) else {
        return;
    };
    let mut admin = support::admin(&server).await;
    let _: () = redis::cmd("CLUSTER")
        .arg("ADDSLOTSRANGE")
        .arg(0)
        .arg(16383)
        .query_async(&mut admin)
        .await
        .expect("ADDSLOTSRANGE");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let info: String = redis::cmd("CLUSTER")
            .arg("INFO")
            .query_async(&mut admin)
            .await
            .expect("CLUSTER INFO");
        if info.contains("cluster_state:ok") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "cluster not ok");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let clock = MockClock::starting_now();
    let store = support::builder(&clock)
        .cluster_urls(vec![server.url()])
        .build()
        .expect("store");
    let r = support::counter(&clock, 1, MINUTE, None);
    store.create(&r).await.expect("create");
    assert!(store.load(&r.id).await.expect("load").is_some());
    let seen = list_all(&store, 10)
        .await
        .expect("a listing of a one-node cluster");
    assert_eq!(seen, [r.id]);
    server.stop();
}

/// The rustdoc of `list` (and the README row) promise that a session
/// present for the whole listing is listed. A slot migration under way
/// moves keys before the slot's owner (and so the map) changes: a session
/// on the last master whose key moves, after the first master was scanned,
/// to the first master is on neither master's scan, and the map did not
/// change, so no page restarts. The session is present throughout (`load`
/// follows the ASK redirect).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_whose_slot_is_being_migrated_is_listed() {
    let Some(cluster) = support::private_cluster(&[]) else {
        return;
    };
    let clock = MockClock::starting_now();
    let store = support::cluster_store_on(&cluster, &clock);
    let nodes = cluster.nodes();
    let mut order: Vec<usize> = (0..nodes.len()).collect();
    order.sort_by_key(|&i| node_id_and_slots(nodes[i].port()).0);
    let (first, last) = (order[0], order[2]);
    let (first_id, _) = node_id_and_slots(nodes[first].port());
    let (last_id, _) = node_id_and_slots(nodes[last].port());
    let mut ids = Vec::new();
    // Sessions on every master, the last one on the last master.
    let (moved_id, moved) = loop {
        let r = support::counter(&clock, 1, MINUTE, None);
        store.create(&r).await.expect("create");
        ids.push(r.id);
        let key = store.session_key(&r.id);
        if ids.len() > 6 && support::owner(&cluster, &key).await == last {
            break (r.id, key);
        }
    };
    // Page until the first master is done.
    let mut seen = Vec::new();
    let mut page = PageRequest::first(1);
    loop {
        let p = store.list(page.clone()).await.expect("page");
        seen.extend(p.items.into_iter().map(|i| i.id));
        let next = p.next.expect("more pages");
        page.cursor = Some(next.clone());
        if !next.contains(&format!("|{first_id}|")) {
            break;
        }
    }
    assert!(!seen.contains(&moved_id));
    // The session's slot starts migrating from the last master to the
    // first; its key moves; the owner does not change yet.
    let mut to = support::admin(&nodes[first]).await;
    let mut from = support::admin(&nodes[last]).await;
    let slot = keyslot(&mut from, &moved).await;
    start_migration(
        (&mut from, &last_id),
        (&mut to, &first_id, nodes[first].port()),
        slot,
        &moved,
    )
    .await;
    assert!(
        store.load(&moved_id).await.expect("load").is_some(),
        "the session is still there"
    );
    loop {
        let p = store.list(page.clone()).await.expect("page");
        seen.extend(p.items.into_iter().map(|i| i.id));
        match p.next {
            Some(next) => page.cursor = Some(next),
            None => break,
        }
    }
    let missed: Vec<_> = ids.iter().filter(|id| !seen.contains(id)).collect();
    assert!(
        missed.is_empty(),
        "{} of {} live sessions on no page (the one whose slot is migrating)",
        missed.len(),
        ids.len()
    );
}

/// Moves `count` slots from the master at `from` to the one at `to` with
/// `redis-cli --cluster reshard` (it takes the source's lowest slots).
fn reshard(from: u16, to: u16, count: usize) {
    let (from_id, _) = node_id_and_slots(from);
    let (to_id, _) = node_id_and_slots(to);
    let out = std::process::Command::new("redis-cli")
        .args(["--cluster", "reshard", &format!("127.0.0.1:{from}")])
        .args(["--cluster-from", &from_id, "--cluster-to", &to_id])
        .args(["--cluster-slots", &count.to_string(), "--cluster-yes"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("redis-cli reshard");
    assert!(
        out.status.success(),
        "reshard: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// A SCAN that reached another node (the cluster client's map is behind)
/// makes the client read its map again by an EXISTS of a key in the
/// master's slot, `<session head><n>}`. With a key prefix holding a hash
/// tag (documented as supported: `{app}:` pins every key to one slot),
/// that key hashes by the prefix's tag, not by `n`: the EXISTS goes to the
/// tag's slot, gets no MOVED, and the client's map is never refreshed, so
/// every page drops the step again: empty pages with a cursor, forever.
/// Here slot 0 moves from the master serving it to another, which then
/// is scanned "by" slot 0, which the client still sends to the old owner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_with_a_hash_tag_prefix_ends_after_a_slot_moved() {
    let Some(cluster) = support::private_cluster(&[]) else {
        return;
    };
    let clock = MockClock::starting_now();
    let tagged_prefix = "{app}:";
    assert_ne!(Slot::for_key("app"), Slot::new(0).unwrap());
    let plain = support::cluster_store_on(&cluster, &clock);
    let tagged = support::builder(&clock)
        .key_prefix(tagged_prefix)
        .cluster_urls(cluster.urls())
        .build()
        .expect("store");
    let mut ids = Vec::new();
    let mut tagged_ids = Vec::new();
    for _ in 0..6 {
        let r = support::counter(&clock, 1, MINUTE, None);
        plain.create(&r).await.expect("create");
        ids.push(r.id);
        let r = support::counter(&clock, 1, MINUTE, None);
        tagged.create(&r).await.expect("create");
        tagged_ids.push(r.id);
    }
    // Both clients have read the map; both list fine.
    assert_eq!(list_all(&plain, 4).await.expect("listing").len(), 6);
    assert_eq!(list_all(&tagged, 4).await.expect("listing").len(), 6);
    // Slot 0 (the lowest of the first node's) moves to the second node,
    // whose lowest slot, the one its SCAN goes by, it becomes.
    let nodes = cluster.nodes();
    reshard(nodes[0].port(), nodes[1].port(), 1);
    cluster.wait_healthy(Duration::from_secs(15));
    // The plain prefix: the EXISTS gets a MOVED, the client reads the map.
    let seen = list_all(&plain, 4).await.expect("plain prefix listing");
    assert!(ids.iter().all(|id| seen.contains(id)));
    // The tagged prefix: never refreshed.
    let seen = list_all(&tagged, 4)
        .await
        .expect("a listing with the key prefix {app}: after a slot moved");
    assert!(tagged_ids.iter().all(|id| seen.contains(id)));
}

/// A version 2 cursor's list of masters to scan again comes from the
/// listing's end: each master at most once, in id order. A forged one
/// naming the same (known) master thousands of times is taken as it is, and
/// since a page drops ids it already listed, one page call scans that
/// master again and again: one SCAN per repeat (a full SCAN of the master
/// each), the work bounded only by the operation timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_list_of_masters_to_scan_again_is_refused() {
    let Some(cluster) = support::private_cluster(&[]) else {
        return;
    };
    let clock = MockClock::starting_now();
    let store = support::builder(&clock)
        .operation_timeout(Duration::from_secs(30))
        .cluster_urls(cluster.urls())
        .build()
        .expect("store");
    for _ in 0..6 {
        let r = support::counter(&clock, 1, MINUTE, None);
        store.create(&r).await.expect("create");
    }
    let first = store.list(PageRequest::first(1)).await.expect("first page");
    let cursor = first.next.expect("a next cursor");
    let parts: Vec<&str> = cursor.split('|').collect();
    assert_eq!(parts.len(), 5, "{cursor}");
    // A real master (the first page may already have finished them all).
    let master = cluster
        .nodes()
        .iter()
        .map(|n| node_id_and_slots(n.port()))
        .filter(|(_, slots)| *slots > 0)
        .map(|(id, _)| id)
        .min()
        .expect("a master");
    let (master, map) = (master.as_str(), parts[4]);
    let repeats = 500;
    let again = vec![master; repeats].join(",");
    let forged = format!("2|{master}|0||{map}|{again}");
    let mut admins = Vec::new();
    for node in cluster.nodes() {
        let mut admin = support::admin(node).await;
        support::reset_stats(&mut admin).await;
        admins.push(admin);
    }
    let page = store
        .list(PageRequest {
            cursor: Some(forged.clone()),
            limit: 1000,
        })
        .await;
    let mut scans = 0;
    for admin in &mut admins {
        scans += support::command_counts(admin)
            .await
            .get("scan")
            .copied()
            .unwrap_or(0);
    }
    assert!(
        matches!(page, Err(session_core::StoreError::InvalidCursor(_))),
        "a cursor naming one master {repeats} times to scan again was taken: \
         one page call ran {scans} SCANs ({:?})",
        page.map(|p| (p.items.len(), p.next.map(|n| n.len())))
    );
}

/// A master whose connection is gone (here: the first master a listing
/// scans; its process is killed, no
/// replica takes over): the SCAN routed by its slot goes to another node
/// (the client's fallback), the step is dropped and the page returns what
/// it has, with a cursor to take the step again. Nothing surfaces the
/// outage: every page is empty and has a next cursor, for as long as the
/// master is down, so a caller paging to the end spins. Before the node
/// id check, the page failed with the connection error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_with_a_master_down_fails_rather_than_returning_empty_pages_forever() {
    let Some(cluster) = support::private_cluster(&[]) else {
        return;
    };
    let clock = MockClock::starting_now();
    let store = support::cluster_store_on(&cluster, &clock);
    for _ in 0..6 {
        let r = support::counter(&clock, 1, MINUTE, None);
        store.create(&r).await.expect("create");
    }
    list_all(&store, 4).await.expect("listing");
    // The master a listing scans first (every other operation on its
    // slots, and with the cluster down on any slot, fails).
    let nodes = cluster.nodes();
    let first = (0..nodes.len())
        .min_by_key(|&i| node_id_and_slots(nodes[i].port()).0)
        .expect("masters");
    nodes[first].kill();
    // Let the cluster mark it failed.
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Each page either reports the outage or makes progress; a run of
    // empty pages with a cursor that take no step is the defect.
    let mut page = PageRequest::first(4);
    let mut empty_in_a_row = 0;
    let mut outcomes = Vec::new();
    for _ in 0..30 {
        match store.list(page.clone()).await {
            Err(e) => {
                // The outage is reported (the cursor is kept).
                outcomes.push(format!("err({e})"));
                empty_in_a_row = 0;
            }
            Ok(p) => {
                outcomes.push(format!("{}", p.items.len()));
                if p.items.is_empty() && p.next.as_ref() == page.cursor.as_ref() {
                    empty_in_a_row += 1;
                } else {
                    empty_in_a_row = 0;
                }
                if empty_in_a_row >= 10 {
                    break;
                }
                match p.next {
                    Some(next) => page.cursor = Some(next),
                    None => panic!("a listing ended without the down master's sessions"),
                }
            }
        }
    }
    eprintln!("pages after the kill: {outcomes:?}");
    assert!(
        empty_in_a_row < 10,
        "{empty_in_a_row} pages in a row came back empty, with the cursor they were given, \
         none failing: {outcomes:?}"
    );
}

/// A healthy, steady cluster whose servers closed the store's idle
/// connections (`timeout` in redis.conf, a proxy, a `CLIENT KILL` on every
/// node): a listing reconnects and succeeds, as a load does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_after_the_servers_closed_idle_connections_succeeds() {
    let Some(cluster) = support::private_cluster(&[]) else {
        return;
    };
    let clock = MockClock::starting_now();
    let store = support::cluster_store_on(&cluster, &clock);
    let ids = counters(&store, &clock, 12).await;
    assert_eq!(list_all(&store, 4).await.expect("listing").len(), 12);
    let mut admins = Vec::new();
    for node in cluster.nodes() {
        admins.push(support::admin(node).await);
    }
    let mut outcomes = Vec::new();
    for _round in 0..5 {
        for admin in &mut admins {
            support::kill_client_connections(admin).await;
        }
        match list_all(&store, 100).await {
            Ok(seen) => outcomes.push(format!("ok({})", seen.len())),
            Err(e) => outcomes.push(format!("err({e})")),
        }
    }
    // Compare: a load meets the same dead connections and retries.
    for admin in &mut admins {
        support::kill_client_connections(admin).await;
    }
    let loaded = store.load(&ids[0]).await;
    assert!(
        outcomes.iter().all(|o| o.starts_with("ok")),
        "listings after the servers closed idle connections: {outcomes:?}; \
         a load after the same: {:?}",
        loaded.map(|l| l.is_some())
    );
}

/// `PageRequest::limit` is caller input ("stores may cap it"): a huge one
/// is capped, not taken as the capacity to allocate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_page_limit_does_not_panic() {
    let Some(server) = support::standalone() else {
        return;
    };
    let clock = MockClock::starting_now();
    let store = support::store_on(server, &clock);
    let page =
        tokio::spawn(async move { store.list(PageRequest::first(usize::MAX)).await.is_ok() }).await;
    assert!(
        page.is_ok(),
        "list with limit usize::MAX panicked: {page:?}"
    );
}

/// A listing on a Redis shared with another app (the reason for key
/// prefixes) makes progress: a page that finds few sessions among many
/// other keys stops after a bounded number of `SCAN` steps (or a share of
/// the operation timeout) and comes back short or empty with a next cursor,
/// as the docs allow. Scanning the whole keyspace for a full page instead
/// makes every call from the first cursor time out once there are enough
/// keys (millions), so the listing never lists anything. Here one session
/// among 100,000 other keys, about 100 steps: more than a page of 10 may
/// take, so the listing takes more than one page, each within the (short)
/// operation timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_among_many_other_keys_makes_progress_within_the_timeout() {
    let Some(server) = support::private_server(&["--enable-debug-command", "yes"]) else {
        return;
    };
    let clock = MockClock::starting_now();
    let store = support::builder(&clock)
        .url(server.url())
        .response_timeout(Duration::from_secs(2))
        .operation_timeout(Duration::from_secs(5))
        .build()
        .expect("store");
    let mut admin = support::admin(&server).await;
    // Another app's keys in the same database.
    let _: () = redis::cmd("DEBUG")
        .arg("POPULATE")
        .arg(100_000)
        .arg("other")
        .query_async(&mut admin)
        .await
        .unwrap();
    let r = support::counter(&clock, 0, MINUTE * 10, None);
    store.create(&r).await.unwrap();
    let (listed, pages) = list_in_pages_of_ten(&store).await;
    assert_eq!(listed, vec![r.id]);
    assert!(
        pages > 1,
        "the first page scanned all 100,000 other keys: a page's work is unbounded"
    );
    server.stop();
}

/// The same on a cluster: each master holds 100,000 other keys, and the
/// listing, which visits the masters in turn, still comes back within the
/// timeout page after page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_listing_among_many_other_keys_makes_progress_within_the_timeout() {
    let Some(cluster) = support::private_cluster(&["--enable-debug-command", "yes"]) else {
        return;
    };
    let clock = MockClock::starting_now();
    let store = support::builder(&clock)
        .cluster_urls(cluster.urls())
        .response_timeout(Duration::from_secs(2))
        .operation_timeout(Duration::from_secs(5))
        .build()
        .expect("store");
    for node in cluster.nodes() {
        let mut admin = support::admin(node).await;
        let _: () = redis::cmd("DEBUG")
            .arg("POPULATE")
            .arg(100_000)
            .arg("other")
            .query_async(&mut admin)
            .await
            .unwrap();
    }
    let r = support::counter(&clock, 0, MINUTE * 10, None);
    store.create(&r).await.unwrap();
    let (listed, pages) = list_in_pages_of_ten(&store).await;
    assert_eq!(listed, vec![r.id]);
    assert!(
        pages > cluster.nodes().len(),
        "a master's 100,000 other keys were scanned in one page: a page's work is unbounded"
    );
}

/// Every page of `store`'s listing, ten sessions at most each: the ids
/// listed, and how many pages it took. Each page must come back within
/// the operation timeout.
async fn list_in_pages_of_ten(store: &RedisStore) -> (Vec<SessionId>, usize) {
    let mut listed = Vec::new();
    let mut pages = 0;
    let mut page = PageRequest::first(10);
    loop {
        let p = store.list(page.clone()).await.unwrap_or_else(|e| {
            panic!(
                "page {pages} failed ({e}): a page must stop scanning within the operation \
                 timeout ({:?}) and hand back a cursor",
                store.operation_timeout()
            )
        });
        pages += 1;
        listed.extend(p.items.into_iter().map(|i| i.id));
        match p.next {
            Some(next) => page.cursor = Some(next),
            None => return (listed, pages),
        }
    }
}

/// Members that are not text (no session id) leave the index in the
/// listing's closing cleanup, a step the listing does not wait on beyond its
/// own bound: while Redis holds writes back, a listing of an index holding
/// such a member still answers, within the operation timeout, as it does
/// for stale entries; the members go with a later listing's cleanup.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_in_a_user_index_does_not_fail_a_listing_while_writes_wait() {
    // Its own server: the test pauses writes.
    let Some(server) = support::private_server(&[]) else {
        return;
    };
    let clock = MockClock::starting_now();
    // Short enough to end long before the pause.
    let store = support::builder(&clock)
        .url(server.url())
        .response_timeout(Duration::from_secs(1))
        .operation_timeout(Duration::from_secs(3))
        .build()
        .expect("store");
    let mut admin = support::admin(&server).await;
    let user = format!("u-{}", SessionId::generate());
    let index = store.user_index_key(&user);
    let r = bound(&clock, &user, MINUTE);
    store.create(&r).await.unwrap();
    // The connection up and the scripts loaded.
    assert_eq!(support::listed(&store, &user).await, [r.id]);
    let _: i64 = redis::cmd("ZADD")
        .arg(&index)
        .arg(1)
        .arg(b"\xff\xfe".as_slice())
        .query_async(&mut admin)
        .await
        .unwrap();

    support::pause_writes(&server, 30_000).await;
    let started = std::time::Instant::now();
    let listed = store.list_for_user(&user).await;
    let took = started.elapsed();
    let _: () = redis::cmd("CLIENT")
        .arg("UNPAUSE")
        .query_async(&mut admin)
        .await
        .unwrap();
    assert!(
        matches!(&listed, Ok(infos) if infos.len() == 1 && infos[0].id == r.id),
        "{listed:?} after {took:?}"
    );
    assert!(took < store.operation_timeout(), "{took:?}");

    // Best effort, as any cleanup: the next listing removes the member.
    assert_eq!(support::listed(&store, &user).await, [r.id]);
    let left: Vec<Vec<u8>> = redis::cmd("ZRANGE")
        .arg(&index)
        .arg(0)
        .arg(-1)
        .query_async(&mut admin)
        .await
        .unwrap();
    assert_eq!(left, [r.id.to_string().into_bytes()]);
    server.stop();
}
