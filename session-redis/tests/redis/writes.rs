//! What the store sends: only changed fields, no write on a read-only load,
//! and the commands of each operation (standalone and cluster).

use std::time::Duration;

use session_core::clock::Clock as _;
use session_core::{
    Binding, FieldMap, MockClock, SessionId, SessionPatch, SessionRecord, SessionStore,
};
use session_redis::{ConfigError, RedisStore};

use crate::monitor::{Monitor, Seen, scripted, sent};
use crate::support;

const HOUR: Duration = Duration::from_secs(3600);

fn record(clock: &MockClock, user: Option<&str>, fields: usize) -> SessionRecord {
    let now = clock.now();
    let mut r = SessionRecord::new(SessionId::generate(), now, now.plus(HOUR));
    r.fields = (0..fields)
        .map(|i| (format!("field{i}"), format!("\"value {i}\"")))
        .collect();
    r.fields.insert("count", "1");
    r.flash.insert("notice", "\"hello\"");
    r.binding = user.map(|u| Box::new(Binding::user(u).with_label("laptop")));
    r
}

fn set(clock: &MockClock, pairs: &[(&str, &str)]) -> SessionPatch {
    SessionPatch {
        set_fields: pairs.iter().copied().collect::<FieldMap>(),
        last_seen: clock.now(),
        ..SessionPatch::default()
    }
}

async fn info_field(
    conn: &mut redis::aio::MultiplexedConnection,
    section: &str,
    name: &str,
) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg(section)
        .query_async(conn)
        .await
        .expect("INFO");
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:"))?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} not in INFO {section}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_save_sends_only_the_changed_fields_in_one_round_trip() {
    let Some(server) = support::private_server(&[]) else {
        return;
    };
    let clock = MockClock::starting_now();
    let store = support::store_on(&server, &clock);
    let mut admin = support::admin(&server).await;
    let r = record(&clock, None, 10);
    store.create(&r).await.unwrap();
    // Warm up: connection set-up and script loading are not what we measure.
    store
        .save(&r.id, &set(&clock, &[("warm", "0")]))
        .await
        .unwrap();
    let mut monitor = Monitor::start(&server.url()).await;
    monitor.take(&mut admin).await;

    // Another writer changes a field the next save does not touch.
    let key = store.session_key(&r.id);
    let _: () = redis::cmd("HSET")
        .arg(&key)
        .arg("f:field3")
        .arg("\"changed elsewhere\"")
        .query_async(&mut admin)
        .await
        .unwrap();
    monitor.take(&mut admin).await;
    support::reset_stats(&mut admin).await;

    clock.advance(Duration::from_secs(5));
    store
        .save(&r.id, &set(&clock, &[("count", "2")]))
        .await
        .unwrap();
    let seen = monitor.take(&mut admin).await;
    let counts = support::command_counts(&mut admin).await;

    assert_eq!(
        sent(&seen),
        ["evalsha"],
        "one command, one round trip: {seen:?}"
    );
    let evalsha = &seen[0];
    assert!(evalsha.mentions("f:count"));
    for i in 0..10 {
        assert!(
            !evalsha.mentions(&format!("field{i}")),
            "unchanged field{i} was sent: {evalsha:?}"
        );
    }
    // Reads: `_m` and `_u`, and the hash's memory use, which bounds its
    // size well under the limit, so the whole hash is not read.
    let writes: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.from_script && !["hmget", "memory"].contains(&s.name().as_str()))
        .collect();
    let names: Vec<String> = writes.iter().map(|s| s.name()).collect();
    assert_eq!(names, ["hset"], "{seen:?}");
    let packed = format!(
        "2:{}:{}:{}:2",
        r.created_at.as_millis(),
        clock.now().as_millis(),
        r.expires_at.as_millis()
    );
    assert_eq!(
        writes[0].args[2..],
        [
            "f:count".to_owned(),
            "2".to_owned(),
            "_m".to_owned(),
            packed
        ],
        "the script sets the changed field and the metadata (last seen, revision) only"
    );
    assert_eq!(counts.get("hset"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("hmget"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("memory|usage"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("evalsha"), Some(&1), "{counts:?}");
    for absent in [
        "hdel",
        "hincrby",
        "del",
        "hgetall",
        "pexpireat",
        "eval",
        "script",
    ] {
        assert_eq!(counts.get(absent), None, "{absent} ran: {counts:?}");
    }

    let back = store.load(&r.id).await.unwrap().unwrap();
    assert_eq!(back.fields.get("count"), Some("2"));
    assert_eq!(
        back.fields.get("field3"),
        Some("\"changed elsewhere\""),
        "the other writer's field survives"
    );
    assert_eq!(back.fields.get("field4"), Some("\"value 4\""));
    assert_eq!(back.flash, r.flash);
    assert_eq!(back.revision, 2);
}

/// A rebind is one script that writes `_b` alone: `_m` (times, revision),
/// `_u`, the data and the flash stay, and the hash is not read whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebind_writes_only_the_binding_in_one_round_trip() {
    let Some(server) = support::private_server(&[]) else {
        return;
    };
    let clock = MockClock::starting_now();
    let store = support::store_on(&server, &clock);
    let mut admin = support::admin(&server).await;
    let r = record(&clock, Some("ada"), 10);
    store.create(&r).await.unwrap();
    // Warm up: the script loaded.
    let same = Binding::user("ada").with_label("laptop");
    assert!(store.rebind(&r.id, &same).await.unwrap());
    let mut monitor = Monitor::start(&server.url()).await;
    monitor.take(&mut admin).await;
    support::reset_stats(&mut admin).await;

    clock.advance(Duration::from_secs(5));
    let promoted = same.clone().with_permissions(["admin"]);
    assert!(store.rebind(&r.id, &promoted).await.unwrap());
    let seen = monitor.take(&mut admin).await;
    let counts = support::command_counts(&mut admin).await;
    assert_eq!(sent(&seen), ["evalsha"], "one round trip: {seen:?}");
    assert_eq!(
        scripted(&seen),
        ["hmget", "memory", "hset"],
        "reads `_m`, `_u` and the memory use, writes once: {seen:?}"
    );
    let hset = seen.iter().find(|s| s.name() == "hset").expect("hset");
    let json = String::from_utf8(serde_json::to_vec(&promoted).unwrap()).unwrap();
    assert_eq!(hset.args[2..], ["_b".to_owned(), json]);
    assert_eq!(counts.get("hgetall"), None, "{counts:?}");

    let mut expected = r.clone();
    expected.binding = Some(Box::new(promoted));
    assert_eq!(store.load(&r.id).await.unwrap(), Some(expected));
    assert_eq!(
        support::listed(&store, "ada").await,
        [r.id],
        "the index entry stays"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_load_sends_no_write() {
    let Some(server) = support::private_server(&[]) else {
        return;
    };
    let clock = MockClock::starting_now();
    let store = support::store_on(&server, &clock);
    let mut admin = support::admin(&server).await;
    let r = record(&clock, Some("ada"), 5);
    store.create(&r).await.unwrap();
    let dirty_before = info_field(&mut admin, "persistence", "rdb_changes_since_last_save").await;
    let mut monitor = Monitor::start(&server.url()).await;
    monitor.take(&mut admin).await;

    for _ in 0..3 {
        assert_eq!(store.load(&r.id).await.unwrap().as_ref(), Some(&r));
    }
    assert_eq!(store.load(&SessionId::generate()).await.unwrap(), None);
    // Expired by the store's clock: reported absent, still not written.
    clock.advance(HOUR);
    assert_eq!(store.load(&r.id).await.unwrap(), None);

    let seen = monitor.take(&mut admin).await;
    assert_eq!(sent(&seen), ["hgetall"; 5], "{seen:?}");
    assert!(scripted(&seen).is_empty(), "{seen:?}");
    let dirty_after = info_field(&mut admin, "persistence", "rdb_changes_since_last_save").await;
    assert_eq!(dirty_before, dirty_after, "a load changed the dataset");
}

/// The commands each operation sends, on `server`'s monitor, after a warm-up.
struct Measure<'a> {
    store: &'a session_redis::RedisStore,
    clock: &'a MockClock,
}

impl Measure<'_> {
    fn keyed<'s>(&self, seen: &'s [Seen]) -> Vec<&'s Seen> {
        let prefix = self.store.key_prefix();
        seen.iter()
            .filter(|s| s.from_script || s.mentions(prefix))
            .collect()
    }
}

/// Sends every operation once and returns, per operation, the commands
/// the store sent (`EVALSHA` counted as the script it runs).
async fn measure(
    store: &session_redis::RedisStore,
    clock: &MockClock,
    mut observe: impl AsyncFnMut() -> Vec<Seen>,
) -> Vec<(&'static str, Vec<String>)> {
    let m = Measure { store, clock };
    let user = format!("u-{}", SessionId::generate());
    let mut table = Vec::new();
    let mut note = |name: &'static str, seen: Vec<Seen>| {
        let sent: Vec<String> = m
            .keyed(&seen)
            .into_iter()
            .filter(|s| !s.from_script)
            .map(Seen::name)
            .collect();
        table.push((name, sent));
    };
    // Warm-up: every script once, so no NOSCRIPT reload is counted.
    let warm = record(m.clock, Some(&user), 2);
    store.create(&warm).await.unwrap();
    store
        .touch(&warm.id, m.clock.now().plus(HOUR * 2), m.clock.now(), None)
        .await
        .unwrap();
    let promoted = Binding::user(&user).with_permissions(["admin"]);
    store.rebind(&warm.id, &promoted).await.unwrap();
    store.delete(&warm.id).await.unwrap();
    store.list_for_user(&user).await.unwrap();
    observe().await;

    let anon = record(m.clock, None, 3);
    store.create(&anon).await.unwrap();
    note("create (anonymous)", observe().await);
    let a = record(m.clock, Some(&user), 3);
    store.create(&a).await.unwrap();
    note("create (login, bound)", observe().await);
    let b = record(m.clock, Some(&user), 3);
    store.create(&b).await.unwrap();
    observe().await;
    store.load(&a.id).await.unwrap().unwrap();
    note("load", observe().await);
    store
        .save(&a.id, &set(m.clock, &[("count", "2")]))
        .await
        .unwrap();
    note("save (one changed field)", observe().await);
    store
        .touch(&anon.id, m.clock.now().plus(HOUR * 2), m.clock.now(), None)
        .await
        .unwrap();
    note("touch (anonymous)", observe().await);
    store
        .touch(&a.id, m.clock.now().plus(HOUR * 2), m.clock.now(), None)
        .await
        .unwrap();
    note("touch (bound, expiry later)", observe().await);
    store
        .touch(
            &a.id,
            m.clock.now().plus(HOUR * 3),
            m.clock.now(),
            Some(&user),
        )
        .await
        .unwrap();
    note("touch (bound, user named)", observe().await);
    assert!(store.rebind(&a.id, &promoted).await.unwrap());
    note("rebind (login)", observe().await);
    assert_eq!(store.list_for_user(&user).await.unwrap().len(), 2);
    note("list_for_user (2 sessions)", observe().await);
    store.delete(&b.id).await.unwrap();
    note("delete (bound)", observe().await);
    let c = record(m.clock, Some(&user), 1);
    store.create(&c).await.unwrap();
    observe().await;
    assert_eq!(store.delete_for_user(&user, None).await.unwrap(), 2);
    note("delete_for_user (2 sessions)", observe().await);
    table
}

fn print_table(title: &str, table: &[(&'static str, Vec<String>)]) {
    let mut out = format!("\n{title}: commands sent per operation\n");
    for (name, sent) in table {
        out.push_str(&format!(
            "  {name:<30} {:>2}  {}\n",
            sent.len(),
            sent.join(", ")
        ));
    }
    eprintln!("{out}");
}

fn sent_by<'t>(table: &'t [(&'static str, Vec<String>)], op: &str) -> &'t [String] {
    &table.iter().find(|(name, _)| *name == op).expect(op).1
}

/// `measure` on a standalone server, watched by `MONITOR`; prints the table.
async fn measure_standalone(
    title: &str,
    server: &support::RedisServer,
    store: &session_redis::RedisStore,
    clock: &MockClock,
) -> Vec<(&'static str, Vec<String>)> {
    let mut admin = support::admin(server).await;
    let mut monitor = Monitor::start(&server.url()).await;
    let table = measure(store, clock, async || monitor.take(&mut admin).await).await;
    print_table(title, &table);
    table
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_per_operation_standalone() {
    let Some(server) = support::private_server(&[]) else {
        return;
    };
    let clock = MockClock::starting_now();
    let store = support::store_on(&server, &clock);
    let table = measure_standalone("standalone", &server, &store, &clock).await;
    let count = |op| sent_by(&table, op).len();
    assert_eq!(sent_by(&table, "load"), ["hgetall"]);
    assert_eq!(count("save (one changed field)"), 1);
    assert_eq!(count("touch (anonymous)"), 1);
    assert_eq!(count("touch (bound, expiry later)"), 2);
    assert_eq!(
        count("touch (bound, user named)"),
        1,
        "standalone refresh of a named user's session is one script"
    );
    assert_eq!(count("create (anonymous)"), 1);
    assert_eq!(
        count("create (login, bound)"),
        1,
        "standalone login is one script"
    );
    assert_eq!(count("rebind (login)"), 1);
    assert_eq!(count("delete (bound)"), 2);
    assert_eq!(
        sent_by(&table, "list_for_user (2 sessions)"),
        ["zrange", "hmget", "hmget"]
    );
    assert_eq!(count("delete_for_user (2 sessions)"), 4);
}

/// With a local cache the save script's reply carries more, and a refresh
/// naming the user is still one script.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_per_operation_standalone_cached() {
    let Some(server) = support::private_server(&[]) else {
        return;
    };
    let clock = MockClock::starting_now();
    let store = support::builder(&clock)
        .url(server.url())
        .local_cache(1000)
        .build()
        .expect("store");
    let table = measure_standalone("standalone, local cache", &server, &store, &clock).await;
    let count = |op| sent_by(&table, op).len();
    assert_eq!(count("save (one changed field)"), 1);
    assert_eq!(count("touch (bound, expiry later)"), 2);
    assert_eq!(
        count("touch (bound, user named)"),
        1,
        "the index flag is read after the cache's items"
    );
    assert_eq!(count("create (login, bound)"), 1);
    assert_eq!(count("rebind (login)"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_per_operation_cluster() {
    let Some(cluster) = support::cluster() else {
        return;
    };
    let clock = MockClock::starting_now();
    let store = support::cluster_store_on(cluster, &clock);
    let mut monitors = Vec::new();
    for node in cluster.nodes() {
        monitors.push((
            Monitor::start(&node.url()).await,
            support::admin(node).await,
        ));
    }
    let table = measure(&store, &clock, async || {
        let mut all = Vec::new();
        for (monitor, admin) in &mut monitors {
            all.extend(monitor.take(admin).await);
        }
        all
    })
    .await;
    print_table("cluster", &table);
    let count = |op| sent_by(&table, op).len();
    assert_eq!(sent_by(&table, "load"), ["hgetall"]);
    assert_eq!(count("save (one changed field)"), 1);
    assert_eq!(count("create (anonymous)"), 1);
    assert_eq!(
        count("create (login, bound)"),
        2,
        "index entry, then session"
    );
    assert_eq!(count("touch (bound, expiry later)"), 2);
    assert_eq!(
        count("touch (bound, user named)"),
        2,
        "index entry, then session"
    );
    assert_eq!(
        count("rebind (login)"),
        1,
        "the session's own node, the index untouched"
    );
}

/// The commands the store sent itself (not from scripts) naming `prefix`,
/// on every node, since the last call.
async fn sent_naming(
    monitors: &mut [(Monitor, redis::aio::MultiplexedConnection)],
    prefix: &str,
) -> Vec<String> {
    let mut names = Vec::new();
    for (monitor, admin) in monitors {
        let seen = monitor.take(admin).await;
        names.extend(
            seen.into_iter()
                .filter(|s| !s.from_script && s.mentions(prefix))
                .map(|s| s.name()),
        );
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hash_tagged_prefix_makes_cluster_logins_and_refreshes_one_atomic_script() {
    let Some(cluster) = support::cluster() else {
        return;
    };
    let clock = MockClock::starting_now();
    let prefix = format!("{{t-{}}}:", SessionId::generate());
    let store = support::builder(&clock)
        .key_prefix(&prefix)
        .cluster_urls(cluster.urls())
        .build()
        .unwrap();
    let user = "tagged-user";
    // Warm-up: loads the create script and the patch script a touch runs,
    // so a NOSCRIPT retry is not counted below on a fresh server.
    let warm = record(&clock, Some(user), 1);
    store.create(&warm).await.unwrap();
    store
        .touch(&warm.id, clock.now().plus(HOUR), clock.now(), Some(user))
        .await
        .unwrap();
    let mut monitors = Vec::new();
    for node in cluster.nodes() {
        let mut admin = support::admin(node).await;
        let mut monitor = Monitor::start(&node.url()).await;
        monitor.take(&mut admin).await;
        monitors.push((monitor, admin));
    }
    let r = record(&clock, Some(user), 1);
    store.create(&r).await.unwrap();
    assert_eq!(
        sent_naming(&mut monitors, &prefix).await,
        ["evalsha"],
        "one script for session and index"
    );
    let listed: Vec<SessionId> = store
        .list_for_user(user)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(listed.len(), 2);
    assert!(listed.contains(&r.id));
    sent_naming(&mut monitors, &prefix).await;
    // So is a refresh that names the user.
    let later = clock.now().plus(HOUR * 2);
    store
        .touch(&r.id, later, clock.now(), Some(user))
        .await
        .unwrap();
    assert_eq!(
        sent_naming(&mut monitors, &prefix).await,
        ["evalsha"],
        "one script for session and index"
    );
    assert_eq!(store.delete_for_user(user, Some(&r.id)).await.unwrap(), 1);
}

/// A prefix whose first `{` is followed at once by `}` is an empty hash tag:
/// Redis Cluster would hash each key whole, putting a session and its
/// tombstone in different slots, so every delete would be refused
/// (CROSSSLOT). The builder refuses it, standalone and cluster alike. A lone
/// `{` or `}` keeps a session's keys in one slot: logout and revocation work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prefix_with_an_empty_hash_tag_is_refused_and_lone_braces_work() {
    for prefix in ["{}app:", "x{}:"] {
        for builder in [
            RedisStore::builder().url("redis://127.0.0.1:1"),
            RedisStore::builder().cluster_urls(["redis://127.0.0.1:1"]),
        ] {
            match builder.key_prefix(prefix).build().err() {
                Some(e @ ConfigError::EmptyHashTagInPrefix { .. }) => {
                    assert!(e.to_string().contains(prefix), "{e}");
                }
                other => panic!("{prefix:?} built: {other:?}"),
            }
        }
    }
    let Some(cluster) = support::cluster() else {
        return;
    };
    let clock = MockClock::starting_now();
    for prefix in [
        format!("a{{{}", support::unique_prefix()),
        format!("}}{}", support::unique_prefix()),
    ] {
        let store = support::builder(&clock)
            .key_prefix(&prefix)
            .cluster_urls(cluster.urls())
            .build()
            .expect("store");
        let anonymous = record(&clock, None, 1);
        store.create(&anonymous).await.unwrap();
        assert!(store.load(&anonymous.id).await.unwrap().is_some());
        assert!(store.delete(&anonymous.id).await.unwrap(), "{prefix}");
        let user = format!("u-{}", SessionId::generate());
        store.create(&record(&clock, Some(&user), 1)).await.unwrap();
        assert_eq!(store.delete_for_user(&user, None).await.unwrap(), 1);
    }
}

/// Standalone, cached and cluster stores refusing records over 100 bytes.
fn limited_to_100_bytes(
    clock: &MockClock,
    server: &support::RedisServer,
    cluster: &support::RedisCluster,
) -> [RedisStore; 3] {
    let limited = || support::builder(clock).max_record_bytes(100);
    [
        limited().url(server.url()).build().unwrap(),
        limited()
            .url(server.url())
            .local_cache(100)
            .build()
            .unwrap(),
        limited().cluster_urls(cluster.urls()).build().unwrap(),
    ]
}

/// `max_record_bytes` bounds the record a save leaves, not only the values
/// it sends: saves each under the limit cannot grow a record past it (else a
/// login could not create the same data under a new id). A refused save
/// writes nothing; replaced and removed values count as they end up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saves_cannot_grow_a_record_past_the_size_limit() {
    let (Some(server), Some(cluster)) = (support::standalone(), support::cluster()) else {
        return;
    };
    let clock = MockClock::starting_now();
    let stores = limited_to_100_bytes(&clock, server, cluster);
    let value = |c: &str, n: usize| format!("\"{}\"", c.repeat(n));
    for store in stores {
        let now = clock.now();
        let mut r = SessionRecord::new(SessionId::generate(), now, now.plus(HOUR));
        // 1 + 60 bytes.
        r.fields.insert("a", value("x", 58));
        store.create(&r).await.unwrap();

        // Another 61 would make 122.
        let grow = set(&clock, &[("b", &value("y", 58))]);
        match store.save(&r.id, &grow).await {
            Err(session_core::StoreError::TooLarge { size, limit }) => {
                assert_eq!((size, limit), (122, 100));
            }
            other => panic!("save gave {other:?}"),
        }
        let mut flash = set(&clock, &[]);
        flash.set_flash.insert("a", value("z", 58));
        assert!(matches!(
            store.save(&r.id, &flash).await,
            Err(session_core::StoreError::TooLarge { size: 122, .. })
        ));
        assert_eq!(
            store.load(&r.id).await.unwrap().as_ref(),
            Some(&r),
            "written"
        );

        // A replaced value counts once, a removed one not at all.
        let mut replace = set(&clock, &[("a", &value("x", 28)), ("b", &value("y", 28))]);
        assert!(store.save(&r.id, &replace).await.is_ok());
        replace = set(&clock, &[("c", &value("w", 58))]);
        replace.removed_fields = vec!["a".into(), "b".into()];
        assert!(store.save(&r.id, &replace).await.is_ok());
        let loaded = store.load(&r.id).await.unwrap().unwrap();
        assert_eq!(loaded.fields.byte_size(), 61);

        // What a login does: the same data under a new id.
        let mut rotated = loaded;
        rotated.id = SessionId::generate();
        store.create(&rotated).await.unwrap();
    }

    // Growing a field at a time up to the limit, in numbers (which Redis
    // stores most compactly) and in text.
    for number in [true, false] {
        let store = support::builder(&clock)
            .url(server.url())
            .max_record_bytes(1000)
            .build()
            .unwrap();
        let r = SessionRecord::new(SessionId::generate(), clock.now(), clock.now().plus(HOUR));
        store.create(&r).await.unwrap();
        let value = if number {
            "1234567890123456789".to_owned()
        } else {
            value("t", 17)
        };
        let mut size = 0;
        for i in 100.. {
            match store
                .save(&r.id, &set(&clock, &[(&i.to_string(), &value)]))
                .await
            {
                Ok(_) => size += 3 + 19,
                Err(session_core::StoreError::TooLarge { size: refused, .. }) => {
                    assert_eq!(refused, size + 22);
                    break;
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(size, 990, "refused only past the limit");
        let loaded = store.load(&r.id).await.unwrap().unwrap();
        assert_eq!(loaded.fields.byte_size(), size);
    }
}

/// The binding counts toward `max_record_bytes` as the JSON text `_b` holds:
/// a create measures it before sending anything, and the save script adds
/// it to the data a save would leave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_size_limit_counts_the_binding_as_stored() {
    let (Some(server), Some(cluster)) = (support::standalone(), support::cluster()) else {
        return;
    };
    let clock = MockClock::starting_now();
    let stores = limited_to_100_bytes(&clock, server, cluster);
    let json = |b: &Binding| serde_json::to_vec(b).unwrap().len();
    for store in stores {
        let user = format!("u{}", &SessionId::generate().to_string()[..8]);
        // A binding whose JSON text is `bytes` long.
        let bound_to = |bytes: usize| {
            let label = bytes - json(&Binding::user(&user).with_label(""));
            Binding::user(&user).with_label("l".repeat(label))
        };
        let now = clock.now();
        let mut r = SessionRecord::new(SessionId::generate(), now, now.plus(HOUR));
        // 1 + 20 bytes of data.
        r.fields.insert("a", format!("\"{}\"", "x".repeat(18)));

        let mut long = r.clone();
        // 21 + 80: one byte too many.
        long.binding = Some(Box::new(bound_to(80)));
        match store.create(&long).await {
            Err(session_core::StoreError::TooLarge { size, limit }) => {
                assert_eq!((size, limit), (101, 100));
            }
            other => panic!("create gave {other:?}"),
        }
        assert_eq!(store.load(&long.id).await.unwrap(), None);
        assert_eq!(store.list_for_user(&user).await.unwrap(), []);

        // 21 + 56 leave room for 23 bytes more: one field of 1 + 22.
        r.binding = Some(Box::new(bound_to(56)));
        store.create(&r).await.unwrap();
        let fill = format!("\"{}\"", "y".repeat(20));
        store
            .save(&r.id, &set(&clock, &[("b", &fill)]))
            .await
            .unwrap();
        let before = store.load(&r.id).await.unwrap();
        match store.save(&r.id, &set(&clock, &[("c", "1")])).await {
            Err(session_core::StoreError::TooLarge { size, limit }) => {
                assert_eq!((size, limit), (102, 100));
            }
            other => panic!("save gave {other:?}"),
        }
        assert_eq!(store.load(&r.id).await.unwrap(), before, "written");

        // A rebind measures the record with the new binding in place of the
        // stored one: 44 bytes of data leave room for 56.
        match store.rebind(&r.id, &bound_to(57)).await {
            Err(session_core::StoreError::TooLarge { size, limit }) => {
                assert_eq!((size, limit), (101, 100));
            }
            other => panic!("rebind gave {other:?}"),
        }
        assert_eq!(store.load(&r.id).await.unwrap(), before, "written");
        let shorter = bound_to(40);
        assert!(store.rebind(&r.id, &shorter).await.unwrap());
        store
            .save(&r.id, &set(&clock, &[("c", "1")]))
            .await
            .unwrap();
        let after = store.load(&r.id).await.unwrap().unwrap();
        assert_eq!(after.binding.as_deref(), Some(&shorter));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_size_check_works_for_a_user_refused_memory_usage() {
    let Some(server) = support::private_server(&[]) else {
        return;
    };
    let mut admin = support::admin(&server).await;
    let _: () = redis::cmd("ACL")
        .arg(
            &[
                "SETUSER", "sessions", "on", ">secret", "~*", "&*", "+@all", "-memory",
            ][..],
        )
        .query_async(&mut admin)
        .await
        .unwrap();
    let url = server
        .url()
        .replacen("redis://", "redis://sessions:secret@", 1);
    let mut limited = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let refused: redis::RedisResult<i64> = redis::cmd("MEMORY")
        .arg(&["USAGE", "any"][..])
        .query_async(&mut limited)
        .await;
    assert!(refused.is_err(), "the user may not call MEMORY");

    let clock = MockClock::starting_now();
    let store = support::builder(&clock)
        .url(url)
        .max_record_bytes(100)
        .build()
        .unwrap();
    let now = clock.now();
    let mut r = SessionRecord::new(SessionId::generate(), now, now.plus(HOUR));
    r.fields.insert("a", format!("\"{}\"", "x".repeat(58)));
    store.create(&r).await.unwrap();
    let small = set(&clock, &[("b", "1")]);
    store.save(&r.id, &small).await.unwrap();
    let grow = set(&clock, &[("c", &format!("\"{}\"", "y".repeat(58)))]);
    match store.save(&r.id, &grow).await {
        Err(session_core::StoreError::TooLarge { size, limit }) => {
            assert_eq!((size, limit), (124, 100));
        }
        other => panic!("save gave {other:?}"),
    }

    // So does a rebind's: 61 bytes of data leave room for a binding of 39.
    let bound_to = |bytes: usize| {
        let empty = serde_json::to_vec(&Binding::user("ada").with_label("")).unwrap();
        Binding::user("ada").with_label("l".repeat(bytes - empty.len()))
    };
    let mut bound = SessionRecord::new(SessionId::generate(), now, now.plus(HOUR));
    bound.fields.insert("a", format!("\"{}\"", "x".repeat(58)));
    bound.binding = Some(Box::new(bound_to(30)));
    store.create(&bound).await.unwrap();
    match store.rebind(&bound.id, &bound_to(40)).await {
        Err(session_core::StoreError::TooLarge { size, limit }) => {
            assert_eq!((size, limit), (101, 100));
        }
        other => panic!("rebind gave {other:?}"),
    }
    assert!(store.rebind(&bound.id, &bound_to(39)).await.unwrap());
    server.stop();
}

/// A limit lowered between two runs: a login stored above it can still
/// have permissions taken away (a rebind that leaves it smaller), as the
/// file store allows; one that grows it is refused, nothing written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_stored_under_a_larger_limit_can_still_lose_permissions() {
    let (Some(server), Some(cluster)) = (support::standalone(), support::cluster()) else {
        return;
    };
    let clock = MockClock::starting_now();
    let roles: Vec<String> = (0..20).map(|i| format!("role-{i:02}")).collect();
    let pairs = [
        (support::unique_prefix(), None),
        (support::unique_prefix(), Some(100)),
        (support::unique_prefix(), None),
    ];
    for (i, (prefix, cache)) in pairs.into_iter().enumerate() {
        let on = |b: session_redis::RedisStoreBuilder| {
            let b = b.key_prefix(prefix.clone());
            let b = if i == 2 {
                b.cluster_urls(cluster.urls())
            } else {
                b.url(server.url())
            };
            match cache {
                Some(n) => b.local_cache(n),
                None => b,
            }
            .build()
            .unwrap()
        };
        let roomy = on(support::builder(&clock));
        let now = clock.now();
        let mut big = SessionRecord::new(SessionId::generate(), now, now.plus(HOUR));
        big.binding = Some(Box::new(Binding::user("u").with_permissions(roles.clone())));
        big.fields
            .insert("blob", format!("\"{}\"", "x".repeat(2000)).as_str());
        roomy.create(&big).await.unwrap();

        let strict = on(support::builder(&clock).max_record_bytes(1024));
        let more =
            Binding::user("u").with_permissions(roles.iter().cloned().chain(["admin".into()]));
        assert!(
            matches!(
                strict.rebind(&big.id, &more).await,
                Err(session_core::StoreError::TooLarge { limit: 1024, .. })
            ),
            "store {i}: a rebind that grows the record"
        );
        assert_eq!(strict.load(&big.id).await.unwrap(), Some(big.clone()));

        let fewer = Binding::user("u").with_permissions(roles[..2].iter().cloned());
        let shrunk = strict.rebind(&big.id, &fewer).await;
        assert!(
            matches!(shrunk, Ok(true)),
            "store {i}: a rebind that shrinks the record gave {shrunk:?}"
        );
        let loaded = strict.load(&big.id).await.unwrap().unwrap();
        assert_eq!(loaded.binding.as_deref(), Some(&fewer));
        assert_eq!(loaded.fields, big.fields);
    }
}
