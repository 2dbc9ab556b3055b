//! Session hashes damaged behind the store's back, under generated cases:
//! any bytes in the packed metadata, a field value, the binding or the
//! bound user. `load` answers the record or `Corrupt` (a data or flash
//! value that is not JSON text is corrupt), the scripts refuse
//! to write exactly what `load` cannot read, listings go on, and a delete
//! always removes the key.

use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use redis::aio::MultiplexedConnection;
use session_core::clock::Clock as _;
use session_core::{
    MockClock, SaveOutcome, SessionId, SessionPatch, SessionRecord, SessionStore, StoreError,
    Timestamp,
};
use session_redis::RedisStore;

use crate::support;

const LIFE: Duration = Duration::from_secs(600);

/// A part of `_m` in place of a number: the number with leading zeros, a
/// long one, past `u64::MAX`, or not a number at all.
fn damaged_part(real: u64) -> impl Strategy<Value = String> {
    prop_oneof![
        1 => "0{1,25}".prop_map(move |zeros| format!("{zeros}{real}")),
        1 => "0{0,25}[0-9]{1,21}",
        3 => prop::sample::select(vec![
            String::new(),
            "+1".into(),
            "-1".into(),
            " 1".into(),
            "1 ".into(),
            "1a".into(),
            "\u{663}".into(),
            "0x1".into(),
            u64::MAX.to_string(),
            "18446744073709551616".into(),
            format!("{}0", u64::MAX),
        ]),
    ]
}

/// `_m` values: the record's own with up to two parts damaged, a layout
/// changed or a part missing or added; or any bytes.
fn meta(created: u64, expires: u64) -> impl Strategy<Value = Vec<u8>> {
    let real = [created, created, expires, 0];
    let damage = (0..4usize).prop_flat_map(move |i| (Just(i), damaged_part(real[i])));
    let packed = (
        prop::collection::vec(damage, 0..3),
        prop_oneof![
            8 => Just("2"),
            1 => prop::sample::select(vec!["", "1", "3", "02", " 2", "2 ", "\u{ff}"]),
        ],
        prop_oneof![8 => Just(0), 1 => 1..=2],
    )
        .prop_map(move |(damage, layout, change)| {
            let mut parts: Vec<String> = real.iter().map(u64::to_string).collect();
            for (i, part) in damage {
                parts[i] = part;
            }
            parts.insert(0, layout.to_owned());
            match change {
                1 => drop(parts.pop()),
                2 => parts.push("0".into()),
                _ => {}
            }
            parts.join(":").into_bytes()
        });
    prop_oneof![4 => packed, 1 => prop::collection::vec(any::<u8>(), 0..60)]
}

async fn hgetall(admin: &mut MultiplexedConnection, key: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut all: Vec<(Vec<u8>, Vec<u8>)> = redis::cmd("HGETALL")
        .arg(key)
        .query_async(admin)
        .await
        .unwrap();
    all.sort();
    all
}

async fn hset(admin: &mut MultiplexedConnection, key: &str, field: &[u8], value: &[u8]) {
    let _: i64 = redis::cmd("HSET")
        .arg(key)
        .arg(field)
        .arg(value)
        .query_async(admin)
        .await
        .unwrap();
}

fn count_patch(now: Timestamp) -> SessionPatch {
    let mut patch = SessionPatch {
        last_seen: now,
        ..SessionPatch::default()
    };
    patch.set_fields.insert("count", "2");
    patch
}

/// `Corrupt`, saying why: the reason is what the log line shows.
fn is_corrupt<T>(result: &Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::Corrupt(reason)) if !reason.is_empty())
}

/// Runs `cases` generated cases on one store of the shared server; `test`
/// gets the store, an admin connection, the clock and a new record of
/// `ada`'s, created; `strategy` gets such a record, for its times.
fn run<S: Strategy>(
    cases: u32,
    strategy: impl Fn(&SessionRecord) -> S,
    test: impl AsyncFn(
        &RedisStore,
        &mut MultiplexedConnection,
        &MockClock,
        &SessionRecord,
        S::Value,
    ) -> Result<(), TestCaseError>,
) {
    let Some(server) = support::standalone() else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let clock = MockClock::starting_now();
    let store = support::store_on(server, &clock);
    let admin = rt.block_on(support::admin(server));
    let record = support::counter(&clock, 1, LIFE, Some("ada"));
    let mut runner = TestRunner::new(ProptestConfig::with_cases(cases));
    let result = runner.run(&strategy(&record), |value| {
        let mut admin = admin.clone();
        // The clock stands still: every record has the times the strategy saw.
        let r = support::counter(&clock, 1, LIFE, Some("ada"));
        rt.block_on(async {
            store.create(&r).await.unwrap();
            let outcome = test(&store, &mut admin, &clock, &r, value).await;
            // Whatever the hash holds, a delete removes it. The user index
            // goes too, so a failing case leaves nothing to the next one.
            let deleted = store.delete(&r.id).await;
            let _: i64 = redis::cmd("DEL")
                .arg(store.user_index_key("ada"))
                .query_async(&mut admin)
                .await
                .unwrap();
            outcome?;
            prop_assert!(deleted.is_ok(), "delete gave {:?}", deleted);
            prop_assert_eq!(store.load(&r.id).await.unwrap(), None);
            let left: i64 = redis::cmd("EXISTS")
                .arg(store.session_key(&r.id))
                .query_async(&mut admin)
                .await
                .unwrap();
            prop_assert_eq!(left, 0);
            Ok(())
        })
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

#[test]
fn the_scripts_write_exactly_what_load_reads_whatever_the_metadata() {
    run(
        256,
        |r| meta(r.created_at.as_millis(), r.expires_at.as_millis()),
        async |store, admin, clock, r, meta| {
            let key = store.session_key(&r.id);
            hset(admin, &key, b"_m", &meta).await;
            let before = hgetall(admin, &key).await;
            let loaded = store.load(&r.id).await;
            let saved = store.save(&r.id, &count_patch(clock.now())).await;
            let shown = String::from_utf8_lossy(&meta).into_owned();
            match &loaded {
                Ok(Some(found)) if found.revision < u64::MAX => {
                    prop_assert!(
                        matches!(saved, Ok(SaveOutcome::Saved)),
                        "{}: {:?}",
                        shown,
                        saved
                    );
                    let again = store.load(&r.id).await.unwrap().unwrap();
                    prop_assert_eq!(again.revision, found.revision + 1);
                    prop_assert_eq!(again.fields.get("count"), Some("2"));
                    prop_assert_eq!(
                        (again.created_at, again.expires_at),
                        (found.created_at, found.expires_at)
                    );
                }
                // Expired by its metadata: no session, to the scripts too.
                Ok(None) => {
                    prop_assert!(
                        matches!(saved, Ok(SaveOutcome::Missing)),
                        "{}: {:?}",
                        shown,
                        saved
                    );
                }
                // A revision that cannot grow, or what `load` cannot read: nothing written.
                Ok(Some(_)) | Err(StoreError::Corrupt(_)) => {
                    prop_assert!(is_corrupt(&saved), "{}: {:?}", shown, saved);
                    let later = clock.now().plus(LIFE);
                    if loaded.is_err() {
                        let touched = store.touch(&r.id, later, clock.now(), None).await;
                        prop_assert!(is_corrupt(&touched), "{}: {:?}", shown, touched);
                        prop_assert!(support::listed(store, "ada").await.is_empty());
                    }
                    prop_assert_eq!(hgetall(admin, &key).await, before, "{}", shown);
                }
                Err(error) => prop_assert!(false, "{}: load gave {:?}", shown, error),
            }
            Ok(())
        },
    );
}

/// Fields whose value the generated bytes replace or add.
fn damaged_field() -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
    let name = prop_oneof![
        prop::sample::select(vec![
            "f:count", "f:other", "l:notice", "_b", "_u", "_w", "_v"
        ])
        .prop_map(|n| n.as_bytes().to_vec()),
        (
            prop::sample::select(vec!["f:", "l:"]),
            prop::collection::vec(any::<u8>(), 0..6)
        )
            .prop_map(|(ns, rest)| [ns.as_bytes(), &rest].concat()),
    ];
    let value = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..40),
        "[\\[\\]{}\",:a-z0-9 ]{0,30}".prop_map(String::into_bytes),
        Just(br#"{"user_id":"ada","label":"x"}"#.to_vec()),
        Just(br#"{"user_id":"bob"}"#.to_vec()),
    ];
    (name, value)
}

#[test]
fn any_bytes_in_a_field_load_as_what_they_hold_or_corrupt() {
    run(
        256,
        |_| damaged_field(),
        async |store, admin, clock, r, (name, value)| {
            let key = store.session_key(&r.id);
            hset(admin, &key, &name, &value).await;
            let text = String::from_utf8(value.clone());
            // Data and flash values are JSON text, as in the other stores.
            let json = text
                .as_deref()
                .is_ok_and(|t| serde_json::from_str::<&serde_json::value::RawValue>(t).is_ok());
            let loaded = store.load(&r.id).await;
            match (name.as_slice(), &loaded) {
                (b"_b", Ok(Some(found))) => {
                    let binding: session_core::Binding = serde_json::from_slice(&value).unwrap();
                    prop_assert_eq!(found.binding.as_deref(), Some(&binding));
                }
                (b"_b", Err(StoreError::Corrupt(_))) => {
                    prop_assert!(serde_json::from_slice::<session_core::Binding>(&value).is_err());
                }
                (b"_u" | b"_w" | b"_v", Ok(Some(found))) => {
                    prop_assert_eq!(found, r);
                }
                (name, Ok(Some(found))) if name.starts_with(b"f:") || name.starts_with(b"l:") => {
                    let field = std::str::from_utf8(&name[2..]).unwrap();
                    let map = if name.starts_with(b"f:") {
                        &found.fields
                    } else {
                        &found.flash
                    };
                    prop_assert!(json, "{:?} loaded", text);
                    prop_assert_eq!(map.get(field), Some(text.as_deref().unwrap()));
                }
                (name, Err(StoreError::Corrupt(_)))
                    if name.starts_with(b"f:") || name.starts_with(b"l:") =>
                {
                    prop_assert!(!json || std::str::from_utf8(&name[2..]).is_err());
                }
                (_, other) => prop_assert!(false, "{:?}: load gave {:?}", name, other),
            }
            // The store goes on: listings answer, and a save either writes
            // or refuses with a typed error.
            support::listed(store, "ada").await;
            match store.save(&r.id, &count_patch(clock.now())).await {
                Ok(SaveOutcome::Saved) | Err(StoreError::Corrupt(_)) => {}
                other => prop_assert!(false, "{:?}: save gave {:?}", name, other),
            }
            Ok(())
        },
    );
}

/// User index members other than session ids: any bytes, text, and ids of
/// sessions that do not exist; with any score.
fn junk_entries() -> impl Strategy<Value = Vec<(Vec<u8>, String)>> {
    let member = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..24),
        ".{0,24}".prop_map(String::into_bytes),
        any::<[u8; 16]>().prop_map(|raw| SessionId::from_bytes(raw).to_string().into_bytes()),
    ];
    let score = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("a score", |f| !f.is_nan())
            .prop_map(|f| f.to_string()),
        prop::sample::select(vec!["+inf".to_owned(), "-inf".to_owned(), "0".to_owned()]),
    ];
    prop::collection::vec((member, score), 1..4)
}

#[test]
fn junk_in_a_user_index_does_not_hide_or_keep_the_users_sessions() {
    run(
        256,
        |_| junk_entries(),
        async |store, admin, _clock, r, junk| {
            let index = store.user_index_key("ada");
            for (member, score) in &junk {
                let _: i64 = redis::cmd("ZADD")
                    .arg(&index)
                    .arg(score)
                    .arg(member)
                    .query_async(admin)
                    .await
                    .unwrap();
            }
            let listed = store.list_for_user("ada").await;
            prop_assert!(
                matches!(&listed, Ok(infos) if infos.len() == 1 && infos[0].id == r.id),
                "{:?}: listed {:?}",
                junk,
                listed
            );
            // The listing took out every entry that names no session of hers.
            let left: Vec<Vec<u8>> = redis::cmd("ZRANGE")
                .arg(&index)
                .arg(0)
                .arg(-1)
                .query_async(admin)
                .await
                .unwrap();
            prop_assert_eq!(left, vec![r.id.to_string().into_bytes()], "{:?}", junk);
            let revoked = store.delete_for_user("ada", None).await;
            prop_assert!(
                matches!(revoked, Ok(1)),
                "{:?}: revoked {:?}",
                junk,
                revoked
            );
            prop_assert_eq!(store.load(&r.id).await.unwrap(), None);
            Ok(())
        },
    );
}

/// Keys the session pattern matches that hold no session: a hash under a
/// name that is no id (any bytes), or under an id with fields but no
/// metadata; and another type under an id. With page sizes, and cursor text
/// a caller might send.
fn junk_keys() -> impl Strategy<Value = (Vec<(Vec<u8>, bool)>, usize, String)> {
    let suffix = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..30),
        any::<[u8; 16]>().prop_map(|raw| SessionId::from_bytes(raw).to_string().into_bytes()),
    ];
    let cursor = prop_oneof![
        ".{0,40}",
        "[12]\\|[a-z0-9:.-]{0,12}\\|[0-9]{0,22}\\|[A-Za-z0-9_,-]{0,30}(\\|[0-9a-f]{0,17})?",
    ];
    (
        prop::collection::vec((suffix, any::<bool>()), 0..4),
        1usize..5,
        cursor,
    )
}

#[test]
fn junk_keys_and_any_cursor_text_leave_the_listing_to_the_live_sessions() {
    run(
        128,
        |_| junk_keys(),
        async |store, admin, _clock, r, (junk, limit, cursor)| {
            let real = store.session_key(&r.id).into_bytes();
            let head = &real[..real.len() - r.id.to_string().len() - 1];
            let mut planted = Vec::new();
            for (suffix, hash) in &junk {
                let key = [head, suffix, b"}"].concat();
                if *hash {
                    let _: i64 = redis::cmd("HSET")
                        .arg(&key)
                        .arg("f:count")
                        .arg(suffix.as_slice())
                        .arg("_u")
                        .arg("ada")
                        .query_async(admin)
                        .await
                        .unwrap();
                } else {
                    let _: () = redis::cmd("SET")
                        .arg(&key)
                        .arg(suffix.as_slice())
                        .query_async(admin)
                        .await
                        .unwrap();
                }
                planted.push(key);
            }
            // Page by page, the one live session and nothing else.
            let mut listed = Vec::new();
            let mut page = session_core::PageRequest::first(limit);
            for _ in 0..1000 {
                let found = store.list(page.clone()).await;
                let Ok(found) = found else {
                    return Err(TestCaseError::fail(format!("{junk:?}: listed {found:?}")));
                };
                listed.extend(found.items.into_iter().map(|info| info.id));
                match found.next {
                    Some(next) => page.cursor = Some(next),
                    None => break,
                }
            }
            // Across pages `SCAN` may repeat a key when the shared server's
            // table shrinks between them (see the listing's docs).
            listed.dedup();
            prop_assert_eq!(listed, vec![r.id], "{:?}", junk);
            // Cursor text from a caller: a page, or refused as invalid.
            let given = session_core::PageRequest {
                cursor: Some(cursor.clone()),
                limit,
            };
            match store.list(given).await {
                Ok(_) | Err(StoreError::InvalidCursor(_)) => {}
                Err(error) => prop_assert!(false, "{:?}: {:?}", cursor, error),
            }
            for key in planted {
                let _: i64 = redis::cmd("DEL").arg(key).query_async(admin).await.unwrap();
            }
            Ok(())
        },
    );
}
