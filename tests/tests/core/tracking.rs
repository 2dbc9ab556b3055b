use session_core::conformance::StoreOp;
use session_core::{PersistOutcome, SessionData};

use crate::support::{env, token};
use session_tests::profile::{Profile, set_age, set_name, update_tags};

async fn existing(env: &crate::support::Env) -> String {
    let mut s = env.service.get::<Profile>(None).await.unwrap();
    set_age(&mut s, Some(20));
    set_name(&mut s, Some("Roger".into()));
    update_tags(&mut s, |t| t.push("a".into()));
    let t = token(&env.service.commit(&mut s).await.unwrap());
    env.store.clear();
    t
}

#[tokio::test]
async fn missing_fields_read_their_defaults() {
    let data = Profile::decode(&[("age", "4")].into_iter().collect()).unwrap();
    assert_eq!(
        data,
        Profile {
            age: Some(4),
            ..Profile::default()
        }
    );
}

#[tokio::test]
async fn assigning_the_value_a_field_already_has_is_not_a_change() {
    let env = env();
    let t = existing(&env).await;
    let mut s = env.service.get::<Profile>(Some(&t)).await.unwrap();
    set_age(&mut s, Some(20));
    set_name(&mut s, Some("Roger".into()));
    assert!(s.changed_fields().unwrap().is_empty());
    assert!(!s.is_modified());
    assert_eq!(
        env.service.commit(&mut s).await.unwrap().outcome,
        PersistOutcome::Unchanged
    );
    assert!(env.store.writes().is_empty());
}

#[tokio::test]
async fn assigning_a_different_value_is_a_change_of_that_field_only() {
    let env = env();
    let t = existing(&env).await;
    let mut s = env.service.get::<Profile>(Some(&t)).await.unwrap();
    set_age(&mut s, Some(21));
    assert_eq!(s.changed_fields().unwrap(), ["age"]);
}

#[tokio::test]
async fn setting_a_default_on_a_new_session_creates_nothing() {
    let env = env();
    let mut s = env.service.get::<Profile>(None).await.unwrap();
    set_age(&mut s, None);
    update_tags(&mut s, |_| ());
    assert_eq!(
        env.service.commit(&mut s).await.unwrap().outcome,
        PersistOutcome::Unchanged
    );
    assert!(env.store.ops().is_empty());
}

#[tokio::test]
async fn update_applies_the_closure_to_the_current_value() {
    let env = env();
    let t = existing(&env).await;
    let mut s = env.service.get::<Profile>(Some(&t)).await.unwrap();
    let len = update_tags(&mut s, |tags| {
        tags.push("b".into());
        tags.len()
    });
    assert_eq!(len, 2);
    s.update(|p| p.age = p.age.map(|a| a + 1));
    env.service.commit(&mut s).await.unwrap();
    let back = env.service.get::<Profile>(Some(&t)).await.unwrap();
    assert_eq!(back.tags, ["a", "b"]);
    assert_eq!(back.age, Some(21));
}

#[tokio::test]
async fn a_nested_push_is_detected_and_written() {
    let env = env();
    let t = existing(&env).await;
    let mut s = env.service.get::<Profile>(Some(&t)).await.unwrap();
    update_tags(&mut s, |tags| tags.push("nested".into()));
    env.service.commit(&mut s).await.unwrap();
    let writes = env.store.writes();
    let [StoreOp::Save(_, patch)] = writes.as_slice() else {
        panic!("{writes:?}")
    };
    assert_eq!(
        patch.set_fields.iter().collect::<Vec<_>>(),
        [("tags", "[\"a\",\"nested\"]")]
    );
}

#[tokio::test]
async fn whole_value_access_writes_nothing_when_bytes_are_unchanged() {
    let env = env();
    let t = existing(&env).await;
    let mut s = env.service.get::<Profile>(Some(&t)).await.unwrap();
    {
        let whole: &mut Profile = &mut s;
        whole.age = Some(20);
        whole.name = Some("Roger".into());
    }
    assert!(s.changed_fields().unwrap().is_empty());
    assert_eq!(
        env.service.commit(&mut s).await.unwrap().outcome,
        PersistOutcome::Unchanged
    );
    assert!(env.store.writes().is_empty());
}

#[tokio::test]
async fn whole_value_access_writes_only_the_fields_that_differ() {
    let env = env();
    let t = existing(&env).await;
    let mut s = env.service.get::<Profile>(Some(&t)).await.unwrap();
    let whole: &mut Profile = &mut s;
    whole.name = Some("Ada".into());
    env.service.commit(&mut s).await.unwrap();
    let writes = env.store.writes();
    let [StoreOp::Save(_, patch)] = writes.as_slice() else {
        panic!("{writes:?}")
    };
    assert_eq!(
        patch.set_fields.iter().collect::<Vec<_>>(),
        [("name", "\"Ada\"")]
    );
}

#[tokio::test]
async fn dropping_the_handle_commits_its_changes() {
    let env = env();
    let t = existing(&env).await;
    let cell = env.service.load(Some(&t)).await.unwrap();
    {
        let mut s = env.service.typed::<Profile>(&cell).unwrap();
        set_age(&mut s, Some(44));
    }
    assert_eq!(cell.lock().field("age"), Some("44"));
    env.service.persist(&cell).await.unwrap();
    assert_eq!(
        env.service.get::<Profile>(Some(&t)).await.unwrap().age,
        Some(44)
    );
}

#[tokio::test]
async fn group_and_authentication_come_from_the_data_type() {
    let env = env();
    let mut s = env.service.get::<Profile>(None).await.unwrap();
    assert!(!s.is_authenticated());
    assert_eq!(s.group_id(), None);
    s.update(|p| {
        p.auth = true;
        p.group = Some("g1".into());
    });
    assert!(s.is_authenticated());
    assert_eq!(s.group_id().as_deref(), Some("g1"));
}

#[tokio::test]
async fn validation_failure_is_a_typed_error() {
    let err = Profile::decode_valid(&[("age", "151")].into_iter().collect()).unwrap_err();
    assert!(
        matches!(err, session_core::SessionDataError::Validation(ref m) if m.contains("151")),
        "{err}"
    );
}

#[tokio::test]
async fn a_change_its_type_refuses_is_never_written() {
    let env = env();
    let mut s = env.service.get::<Profile>(None).await.unwrap();
    set_name(&mut s, Some("kept".into()));
    let t = token(&env.service.commit(&mut s).await.unwrap());
    env.store.clear();

    let mut s = env.service.get::<Profile>(Some(&t)).await.unwrap();
    set_name(&mut s, Some("lost".into()));
    set_age(&mut s, Some(151));
    let err = env.service.commit(&mut s).await.unwrap_err();
    assert!(
        matches!(&err, session_core::SessionError::Data(session_core::SessionDataError::Validation(m)) if m.contains("151")),
        "{err:?}"
    );
    drop(s);
    assert!(
        env.store
            .ops()
            .iter()
            .all(|op| !matches!(op, StoreOp::Save { .. })),
        "{:?}",
        env.store.ops()
    );
    let back = env.service.get::<Profile>(Some(&t)).await.unwrap();
    assert_eq!((back.name.as_deref(), back.age), (Some("kept"), None));
}

#[session_axum::session_data]
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub average: f64,
    pub samples: Vec<f64>,
    pub note: Option<String>,
    pub maybe: Option<f64>,
}

#[tokio::test]
async fn a_value_that_would_not_read_back_is_refused_not_stored() {
    let env = env();
    let mut s = env.service.get::<Stats>(None).await.unwrap();
    s.set_note(Some("kept".into()));
    s.set_average(1.5);
    let t = token(&env.service.commit(&mut s).await.unwrap());

    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let mut s = env.service.get::<Stats>(Some(&t)).await.unwrap();
        s.set_average(bad);
        let err = env.service.commit(&mut s).await.unwrap_err();
        assert!(
            matches!(&err, session_core::SessionError::Data(session_core::SessionDataError::Encode { field, .. }) if field == "average"),
            "{bad}: {err:?}"
        );
        s.set_average(2.5);
        let mut s2 = env.service.get::<Stats>(Some(&t)).await.unwrap();
        s2.update_samples(|v| v.push(bad));
        assert!(
            env.service.commit(&mut s2).await.is_err(),
            "{bad} in a list"
        );
        s2.update_samples(|v| {
            v.pop();
        });
    }
    // In an `Option`, a NaN would read back as `None`: refused too, also
    // where the stored value is already `None` (the same bytes).
    for stored in [Some(1.0), None] {
        let mut s = env.service.get::<Stats>(Some(&t)).await.unwrap();
        s.set_maybe(stored);
        env.service.commit(&mut s).await.unwrap();
        let mut s = env.service.get::<Stats>(Some(&t)).await.unwrap();
        s.set_maybe(Some(f64::NAN));
        assert!(env.service.commit(&mut s).await.is_err(), "{stored:?}");
        s.set_maybe(None);
    }
    // A `null` that reads back (an `Option` cleared) is fine.
    let mut s = env.service.get::<Stats>(Some(&t)).await.unwrap();
    s.set_note(None);
    env.service.commit(&mut s).await.unwrap();
    let back = env.service.get::<Stats>(Some(&t)).await.unwrap();
    assert_eq!((*back.average(), back.note().as_deref()), (1.5, None));
}

#[session_axum::session_data]
#[derive(Debug, Clone, Default)]
pub struct Prefs {
    pub name: Option<String>,
    pub tags: std::collections::HashSet<String>,
}

#[tokio::test]
async fn an_equal_set_is_no_change_whatever_order_it_encodes_in() {
    let env = env();
    let mut s = env.service.get::<Prefs>(None).await.unwrap();
    s.update_tags(|t| t.extend((0..32).map(|i| format!("t{i}"))));
    let t = token(&env.service.commit(&mut s).await.unwrap());
    for _ in 0..4 {
        let mut s = env.service.get::<Prefs>(Some(&t)).await.unwrap();
        let same = s.tags().clone();
        s.set_tags(same);
        assert_eq!(s.changed_fields().unwrap(), Vec::<&str>::new());
        let outcome = env.service.commit(&mut s).await.unwrap().outcome;
        assert_eq!(outcome, PersistOutcome::Unchanged);
    }
    let mut s = env.service.get::<Prefs>(Some(&t)).await.unwrap();
    s.update_tags(|t| t.insert("new".into()));
    assert_eq!(s.changed_fields().unwrap(), ["tags"]);
}

#[tokio::test]
async fn another_requests_change_to_a_set_survives_an_update_of_other_fields() {
    let env = env();
    let mut s = env.service.get::<Prefs>(None).await.unwrap();
    s.update_tags(|t| t.extend((0..32).map(|i| format!("t{i}"))));
    let t = token(&env.service.commit(&mut s).await.unwrap());
    let mut a = env.service.get::<Prefs>(Some(&t)).await.unwrap();
    let mut b = env.service.get::<Prefs>(Some(&t)).await.unwrap();
    b.update_tags(|t| t.insert("from-b".into()));
    env.service.commit(&mut b).await.unwrap();
    // Whole-value access touches every field; `tags` is still A's loaded set.
    a.update(|d| d.name = Some("from-a".into()));
    env.service.commit(&mut a).await.unwrap();
    let back = env.service.get::<Prefs>(Some(&t)).await.unwrap();
    assert!(back.tags().contains("from-b"), "B's change was overwritten");
    assert_eq!(back.name().as_deref(), Some("from-a"));
}

/// Equal by id alone, as entities often are.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Item {
    pub id: u32,
    pub name: String,
}

impl PartialEq for Item {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

#[session_axum::session_data]
#[derive(Debug, Clone, Default)]
pub struct Cart {
    pub item: Item,
    pub items: Vec<Item>,
}

#[tokio::test]
async fn an_equality_coarser_than_the_data_does_not_hide_a_change() {
    let env = env();
    let mut s = env.service.get::<Cart>(None).await.unwrap();
    let item = |id, name: &str| Item {
        id,
        name: name.into(),
    };
    s.set_item(item(1, "old"));
    s.set_items(vec![item(1, "a"), item(2, "b")]);
    let t = token(&env.service.commit(&mut s).await.unwrap());

    let mut s = env.service.get::<Cart>(Some(&t)).await.unwrap();
    s.set_item(item(1, "new"));
    s.update_items(|items| items[0].name = "renamed".into());
    assert_eq!(s.changed_fields().unwrap(), ["item", "items"]);
    env.service.commit(&mut s).await.unwrap();
    let back = env.service.get::<Cart>(Some(&t)).await.unwrap();
    assert_eq!(back.item().name, "new");
    assert_eq!(back.items()[0].name, "renamed");

    // Reordered: a change for a `Vec`, whose `==` minds the order.
    let mut s = env.service.get::<Cart>(Some(&t)).await.unwrap();
    s.update_items(|items| items.reverse());
    assert_eq!(s.changed_fields().unwrap(), ["items"]);
}

#[session_axum::session_data]
#[derive(Debug, Clone, Default)]
pub struct Renamed {
    #[serde(alias = "old_nick")]
    pub nick: Option<String>,
}

#[tokio::test]
async fn a_field_read_from_its_alias_compares_with_that_value() {
    let env = env();
    // A session written before the field was renamed.
    let cell = env.service.load(None).await.unwrap();
    cell.lock().set_field("old_nick", "\"ada\"");
    let t = token(&env.service.persist(&cell).await.unwrap());

    let mut s = env.service.get::<Renamed>(Some(&t)).await.unwrap();
    assert_eq!(s.nick().as_deref(), Some("ada"));
    s.set_nick(Some("ada".into()));
    assert_eq!(
        s.changed_fields().unwrap(),
        Vec::<&str>::new(),
        "same value"
    );
    s.set_nick(None);
    assert_eq!(s.changed_fields().unwrap(), ["nick"]);
    env.service.commit(&mut s).await.unwrap();
    let back = env.service.get::<Renamed>(Some(&t)).await.unwrap();
    assert_eq!(
        back.nick().as_deref(),
        None,
        "the cleared value stays cleared"
    );
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Place {
    pub lat: f64,
    pub label: Option<String>,
    #[serde(skip)]
    pub rendered: Option<String>,
}

#[session_axum::session_data]
#[derive(Debug, Clone, Default)]
pub struct Trip {
    pub place: Place,
}

/// Only a NaN or infinite float is refused: not a finite float that parses
/// back an ulp off, a skipped part, or a `null` beside them.
#[tokio::test]
async fn values_holding_null_beside_finite_floats_and_skipped_parts_are_stored() {
    let env = env();
    let place = |label: Option<&str>| Place {
        lat: 92.42132512813595,
        label: label.map(str::to_owned),
        rendered: Some("<b>".into()),
    };
    let mut s = env.service.get::<Trip>(None).await.unwrap();
    s.set_place(place(Some("home")));
    let t = token(&env.service.commit(&mut s).await.unwrap());
    for label in [Some("annulled"), None] {
        let mut s = env.service.get::<Trip>(Some(&t)).await.unwrap();
        s.set_place(place(label));
        let result = env.service.commit(&mut s).await;
        assert!(result.is_ok(), "{label:?}: {result:?}");
    }
}

fn seven() -> u32 {
    7
}

/// A field whose own default differs from the type's `Default`.
#[session_axum::session_data]
#[derive(Debug, Clone, Default)]
pub struct Level {
    #[serde(default = "seven")]
    pub level: u32,
    pub note: Option<String>,
}

#[tokio::test]
async fn a_fields_own_default_holds_for_new_sessions_and_is_a_real_baseline() {
    let env = env();
    // A new session reads the field's own default, as a record without it does.
    let mut s = env.service.get::<Level>(None).await.unwrap();
    assert_eq!(*s.level(), 7);
    s.set_note(Some("x".into()));
    let t = token(&env.service.commit(&mut s).await.unwrap());

    // Setting it to the type's default (0) is a change from 7: it is saved.
    let mut s = env.service.get::<Level>(Some(&t)).await.unwrap();
    assert_eq!(*s.level(), 7);
    s.set_level(0);
    env.service.commit(&mut s).await.unwrap();
    let s = env.service.get::<Level>(Some(&t)).await.unwrap();
    assert_eq!(*s.level(), 0);

    // Setting it to its own default on a record without it is no change.
    let mut s = env.service.get::<Level>(None).await.unwrap();
    s.set_level(7);
    assert!(!s.is_modified());
}

#[tokio::test]
async fn a_session_whose_data_does_not_decode_reads_the_fields_own_defaults() {
    let env = env();
    let mut s = env.service.get::<Level>(None).await.unwrap();
    s.set_note(Some("x".into()));
    let persisted = env.service.commit(&mut s).await.unwrap();
    let (t, id) = (token(&persisted), persisted.id.unwrap());
    let mut patch = session_core::SessionPatch {
        last_seen: session_core::Clock::now(&env.clock),
        ..Default::default()
    };
    patch.set_fields.insert("level", "\"oops\"");
    session_core::SessionStore::save(env.store.inner(), &id, &patch)
        .await
        .unwrap();

    let s = env.service.get::<Level>(Some(&t)).await.unwrap();
    assert!(!s.cell().lock().is_loaded(), "discarded");
    assert_eq!(*s.level(), 7, "as a new session reads it");
}

/// Two handles on one request, both taken before either changed anything:
/// the second one's `update` (which touches every field, `name` still as
/// loaded in its copy) must not undo the first one's change of `name`.
#[tokio::test]
async fn a_second_handle_does_not_undo_the_first_handles_change() {
    let env = env();
    let t = existing(&env).await;
    let cell = env.service.load(Some(&t)).await.unwrap();
    let mut first = env.service.typed::<Profile>(&cell).unwrap();
    let mut second = env.service.typed::<Profile>(&cell).unwrap();
    set_name(&mut first, Some("Bob".into()));
    drop(first);
    second.update(|p| p.age = Some(21));
    drop(second);
    env.service.persist(&cell).await.unwrap();
    let s = env.service.get::<Profile>(Some(&t)).await.unwrap();
    assert_eq!((s.name.as_deref(), s.age), (Some("Bob"), Some(21)));
}

/// A map whose encoding orders its entries differently from one decoding
/// to the next.
#[session_axum::session_data]
#[derive(Debug, Clone, Default)]
pub struct Scores {
    pub by_game: std::collections::HashMap<String, u32>,
}

#[tokio::test]
async fn an_unchanged_map_read_through_deref_mut_writes_nothing() {
    let env = env();
    let mut s = env.service.get::<Scores>(None).await.unwrap();
    s.update(|d| d.by_game.extend((0..32).map(|i| (format!("g{i}"), i))));
    let t = token(&env.service.commit(&mut s).await.unwrap());
    env.store.clear();
    for _ in 0..4 {
        let mut s = env.service.get::<Scores>(Some(&t)).await.unwrap();
        s.update(|_| ());
        let persisted = env.service.commit(&mut s).await.unwrap();
        assert_eq!(
            persisted.outcome,
            PersistOutcome::Unchanged,
            "{:?}",
            env.store.ops()
        );
    }
}

#[tokio::test]
async fn a_value_read_from_an_alias_does_not_follow_a_login_as_another_user() {
    let env = env();
    let roger = env
        .service
        .create_session(session_core::Binding::user("roger"))
        .await
        .unwrap();
    let t = env.service.token_for(&roger);
    // Written before the field was renamed.
    let cell = env.service.load(Some(&t)).await.unwrap();
    cell.lock().set_field("old_nick", "\"roger\"");
    env.service.persist(&cell).await.unwrap();

    let mut s = env.service.get::<Renamed>(Some(&t)).await.unwrap();
    assert_eq!(s.nick().as_deref(), Some("roger"));
    s.login(session_core::Binding::user("ada"));
    s.update(|_| ());
    let ada = env.service.commit(&mut s).await.unwrap();
    let back = env
        .service
        .get::<Renamed>(Some(&token(&ada)))
        .await
        .unwrap();
    assert_eq!(back.user_id().as_deref(), Some("ada"));
    assert_eq!(back.nick().as_deref(), None, "Roger's nick reached Ada");
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    pub id: u32,
    pub cents: u128,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

#[session_axum::session_data]
#[derive(Debug, Clone, Default)]
pub struct Books {
    pub entry: Entry,
}

#[tokio::test]
async fn an_equality_coarser_than_the_data_does_not_hide_a_change_of_a_wide_integer() {
    let env = env();
    let mut s = env.service.get::<Books>(None).await.unwrap();
    s.set_entry(Entry {
        id: 1,
        cents: 1 << 100,
    });
    let t = token(&env.service.commit(&mut s).await.unwrap());

    let mut s = env.service.get::<Books>(Some(&t)).await.unwrap();
    s.set_entry(Entry {
        id: 1,
        cents: (1 << 100) + 1,
    });
    assert_eq!(s.changed_fields().unwrap(), ["entry"]);
    env.service.commit(&mut s).await.unwrap();
    let back = env.service.get::<Books>(Some(&t)).await.unwrap();
    assert_eq!(back.entry().cents, (1 << 100) + 1);
}

#[tokio::test]
async fn a_wide_integer_whose_digits_are_permuted_is_a_change() {
    let env = env();
    let before: u128 = 1 << 100; // 1267650600228229401496703205376
    let after: u128 = 1_267_650_600_228_229_401_496_703_205_367;
    let mut s = env.service.get::<Books>(None).await.unwrap();
    s.set_entry(Entry {
        id: 1,
        cents: before,
    });
    let t = token(&env.service.commit(&mut s).await.unwrap());
    let mut s = env.service.get::<Books>(Some(&t)).await.unwrap();
    s.set_entry(Entry {
        id: 1,
        cents: after,
    });
    assert_eq!(s.changed_fields().unwrap(), ["entry"]);
    env.service.commit(&mut s).await.unwrap();
    let back = env.service.get::<Books>(Some(&t)).await.unwrap();
    assert_eq!(back.entry().cents, after);
}

/// No `PartialEq`: compared as JSON, exactly.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Ledger {
    pub cents: u128,
}

#[session_axum::session_data]
#[derive(Debug, Clone, Default)]
pub struct LedgerBooks {
    pub ledger: Ledger,
}

#[tokio::test]
async fn a_wide_integer_change_in_a_type_without_equality_is_a_change() {
    let env = env();
    let mut s = env.service.get::<LedgerBooks>(None).await.unwrap();
    s.set_ledger(Ledger { cents: 1 << 100 });
    let t = token(&env.service.commit(&mut s).await.unwrap());
    let mut s = env.service.get::<LedgerBooks>(Some(&t)).await.unwrap();
    s.set_ledger(Ledger {
        cents: (1 << 100) + 1,
    });
    assert_eq!(s.changed_fields().unwrap(), ["ledger"]);
    env.service.commit(&mut s).await.unwrap();
    let back = env.service.get::<LedgerBooks>(Some(&t)).await.unwrap();
    assert_eq!(back.ledger().cents, (1 << 100) + 1);
}

static SERIALIZER_CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

mod counted {
    pub fn serialize<S: serde::Serializer>(v: &Option<u32>, s: S) -> Result<S::Ok, S::Error> {
        super::SERIALIZER_CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        serde::Serialize::serialize(v, s)
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
        <Option<u32> as serde::Deserialize>::deserialize(d)
    }
}

#[session_axum::session_data]
#[derive(Debug, Clone, Default)]
pub struct Counted {
    #[serde(with = "counted")]
    pub pick: Option<u32>,
}

#[test]
fn a_field_with_its_own_serializer_is_serialized_once_per_encode() {
    let before = SERIALIZER_CALLS.load(std::sync::atomic::Ordering::SeqCst);
    let _ = Counted { pick: None }.encode_field(0).unwrap();
    let after = SERIALIZER_CALLS.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(after - before, 1);
}

/// No `PartialEq`, a signed wide integer: `i64::MIN - 1` has 19 digits.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Debt {
    pub cents: i128,
}

#[session_axum::session_data]
#[derive(Debug, Clone, Default)]
pub struct DebtBooks {
    pub debt: Debt,
    pub entry: SignedEntry,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct SignedEntry {
    pub id: u32,
    pub cents: i128,
}

impl PartialEq for SignedEntry {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

#[tokio::test]
async fn a_change_of_a_19_digit_negative_wide_integer_is_a_change() {
    let env = env();
    let before: i128 = i128::from(i64::MIN) - 1; // -9223372036854775809
    let after: i128 = before - 1;
    let mut s = env.service.get::<DebtBooks>(None).await.unwrap();
    s.set_debt(Debt { cents: before });
    s.set_entry(SignedEntry {
        id: 1,
        cents: before,
    });
    let t = token(&env.service.commit(&mut s).await.unwrap());
    let mut s = env.service.get::<DebtBooks>(Some(&t)).await.unwrap();
    s.set_debt(Debt { cents: after });
    s.set_entry(SignedEntry {
        id: 1,
        cents: after,
    });
    assert_eq!(s.changed_fields().unwrap(), ["debt", "entry"]);
    env.service.commit(&mut s).await.unwrap();
    let back = env.service.get::<DebtBooks>(Some(&t)).await.unwrap();
    assert_eq!((back.debt().cents, back.entry().cents), (after, after));
}

mod rounded {
    pub fn serialize<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64((v * 100.0).round() / 100.0)
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        <f64 as serde::Deserialize>::deserialize(d)
    }
}

#[session_axum::session_data]
#[derive(Debug, Clone, Default)]
pub struct Gauge {
    #[serde(with = "rounded")]
    pub level: f64,
    pub note: Option<String>,
}

/// A field with its own serializer is not walked for NaN, but what it wrote
/// must decode as the next request decodes it.
#[tokio::test]
async fn a_nan_through_a_fields_own_serializer_is_refused_not_stored() {
    let env = env();
    let mut s = env.service.get::<Gauge>(None).await.unwrap();
    s.set_note(Some("kept".into()));
    s.set_level(1.5);
    let t = token(&env.service.commit(&mut s).await.unwrap());
    let mut s = env.service.get::<Gauge>(Some(&t)).await.unwrap();
    s.set_level(f64::NAN);
    let result = env.service.commit(&mut s).await;
    assert!(result.is_err(), "NaN must be refused, got {result:?}");
    s.set_level(2.0);
    drop(s);
    let back = env.service.get::<Gauge>(Some(&t)).await.unwrap();
    assert_eq!((*back.level(), back.note().as_deref()), (1.5, Some("kept")));
}

mod some_only {
    pub fn serialize<S: serde::Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_str(&v.to_string()),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        let text: String = serde::Deserialize::deserialize(d)?;
        text.parse().map(Some).map_err(serde::de::Error::custom)
    }
}

/// The usual serde shape for an optional field through a module that reads
/// only `Some`: `None` is never written, a missing field reads as `None`.
#[session_axum::session_data]
#[derive(Debug, Clone, Default)]
pub struct Ticket {
    #[serde(default, skip_serializing_if = "Option::is_none", with = "some_only")]
    pub serial: Option<u64>,
    pub note: Option<String>,
}

#[tokio::test]
async fn a_default_never_written_is_not_checked_for_reading_back() {
    let env = env();
    let mut s = env.service.get::<Ticket>(None).await.unwrap();
    s.set_serial(None);
    s.set_note(Some("n".into()));
    assert_eq!(s.changed_fields().unwrap(), ["note"]);
    let t = token(&env.service.commit(&mut s).await.unwrap());
    let back = env.service.get::<Ticket>(Some(&t)).await.unwrap();
    assert_eq!((*back.serial(), back.note().as_deref()), (None, Some("n")));
}

/// Nanosecond Unix timestamps have 19 digits and fit a u64 exactly.
#[session_axum::session_data]
#[derive(Debug, Clone, Default)]
pub struct SeenAt {
    pub name: Option<String>,
    pub by_page: std::collections::HashMap<String, u64>,
}

#[tokio::test]
async fn a_map_of_19_digit_u64s_is_still_compared_by_value() {
    let env = env();
    let mut s = env.service.get::<SeenAt>(None).await.unwrap();
    s.update_by_page(|m| {
        m.extend((0..32u64).map(|i| (format!("p{i}"), 1_700_000_000_000_000_000 + i)));
    });
    let t = token(&env.service.commit(&mut s).await.unwrap());
    let mut s = env.service.get::<SeenAt>(Some(&t)).await.unwrap();
    let same = s.by_page().clone();
    s.set_by_page(same);
    assert_eq!(s.changed_fields().unwrap(), Vec::<&str>::new());
    drop(s);

    // So a stale copy touched by `update` does not undo another change.
    let mut a = env.service.get::<SeenAt>(Some(&t)).await.unwrap();
    let mut b = env.service.get::<SeenAt>(Some(&t)).await.unwrap();
    b.update_by_page(|m| m.insert("from-b".into(), 1_800_000_000_000_000_000));
    env.service.commit(&mut b).await.unwrap();
    a.update(|d| d.name = Some("from-a".into()));
    env.service.commit(&mut a).await.unwrap();
    let back = env.service.get::<SeenAt>(Some(&t)).await.unwrap();
    assert!(back.by_page().contains_key("from-b"), "B's change was lost");
}

/// Handles commit in order: a later handle that puts a field back to the
/// loaded value, through its setter or through whole-value access on data
/// that showed the first handle's change, has the last word.
#[tokio::test]
async fn a_later_handle_putting_back_the_loaded_value_wins() {
    for whole_value in [false, true] {
        let env = env();
        let t = existing(&env).await;
        let cell = env.service.load(Some(&t)).await.unwrap();
        let mut first = env.service.typed::<Profile>(&cell).unwrap();
        set_name(&mut first, Some("Bob".into()));
        drop(first);
        let mut second = env.service.typed::<Profile>(&cell).unwrap();
        assert_eq!(second.name.as_deref(), Some("Bob"));
        if whole_value {
            second.update(|p| p.name = Some("Roger".into()));
        } else {
            set_name(&mut second, Some("Roger".into()));
        }
        drop(second);
        env.service.persist(&cell).await.unwrap();
        let s = env.service.get::<Profile>(Some(&t)).await.unwrap();
        assert_eq!(
            s.name.as_deref(),
            Some("Roger"),
            "whole value: {whole_value}"
        );
    }
}

/// A handle made before another handle's change, and committing the field
/// unchanged through whole-value access, leaves that change in place.
#[tokio::test]
async fn a_stale_handle_does_not_undo_a_change_it_never_saw() {
    let env = env();
    let t = existing(&env).await;
    let cell = env.service.load(Some(&t)).await.unwrap();
    let mut early = env.service.typed::<Profile>(&cell).unwrap();
    let mut first = env.service.typed::<Profile>(&cell).unwrap();
    set_age(&mut first, Some(30));
    drop(first);
    // Made after the change to `age`, before the one to `name`.
    let mut middle = env.service.typed::<Profile>(&cell).unwrap();
    let mut second = env.service.typed::<Profile>(&cell).unwrap();
    set_name(&mut second, Some("Bob".into()));
    drop(second);
    early.update(|p| p.tags.push("b".into()));
    drop(early);
    middle.update(|p| p.tags.push("c".into()));
    drop(middle);
    env.service.persist(&cell).await.unwrap();
    let s = env.service.get::<Profile>(Some(&t)).await.unwrap();
    assert_eq!((s.name.as_deref(), s.age), (Some("Bob"), Some(30)));
    assert_eq!(s.tags, ["a", "c"], "the last handle's whole value wins");
}

/// Reading a field through its per-field update on a stale handle is not
/// an assignment: it leaves another handle's change in place.
#[tokio::test]
async fn a_per_field_read_on_a_stale_handle_keeps_another_handles_change() {
    let env = env();
    let t = existing(&env).await;
    let cell = env.service.load(Some(&t)).await.unwrap();
    let mut early = env.service.typed::<Profile>(&cell).unwrap();
    let mut first = env.service.typed::<Profile>(&cell).unwrap();
    update_tags(&mut first, |t| t.push("b".into()));
    drop(first);
    assert_eq!(update_tags(&mut early, |t| t.len()), 1);
    drop(early);
    env.service.persist(&cell).await.unwrap();
    let s = env.service.get::<Profile>(Some(&t)).await.unwrap();
    assert_eq!(s.tags, ["a", "b"]);
}

/// More fields than the 64 a `FieldSet` tracks one by one.
#[session_axum::session_data]
#[derive(Debug, Clone, Default)]
pub struct Wide {
    pub f00: Option<u32>,
    pub f01: Option<u32>,
    pub f02: Option<u32>,
    pub f03: Option<u32>,
    pub f04: Option<u32>,
    pub f05: Option<u32>,
    pub f06: Option<u32>,
    pub f07: Option<u32>,
    pub f08: Option<u32>,
    pub f09: Option<u32>,
    pub f10: Option<u32>,
    pub f11: Option<u32>,
    pub f12: Option<u32>,
    pub f13: Option<u32>,
    pub f14: Option<u32>,
    pub f15: Option<u32>,
    pub f16: Option<u32>,
    pub f17: Option<u32>,
    pub f18: Option<u32>,
    pub f19: Option<u32>,
    pub f20: Option<u32>,
    pub f21: Option<u32>,
    pub f22: Option<u32>,
    pub f23: Option<u32>,
    pub f24: Option<u32>,
    pub f25: Option<u32>,
    pub f26: Option<u32>,
    pub f27: Option<u32>,
    pub f28: Option<u32>,
    pub f29: Option<u32>,
    pub f30: Option<u32>,
    pub f31: Option<u32>,
    pub f32: Option<u32>,
    pub f33: Option<u32>,
    pub f34: Option<u32>,
    pub f35: Option<u32>,
    pub f36: Option<u32>,
    pub f37: Option<u32>,
    pub f38: Option<u32>,
    pub f39: Option<u32>,
    pub f40: Option<u32>,
    pub f41: Option<u32>,
    pub f42: Option<u32>,
    pub f43: Option<u32>,
    pub f44: Option<u32>,
    pub f45: Option<u32>,
    pub f46: Option<u32>,
    pub f47: Option<u32>,
    pub f48: Option<u32>,
    pub f49: Option<u32>,
    pub f50: Option<u32>,
    pub f51: Option<u32>,
    pub f52: Option<u32>,
    pub f53: Option<u32>,
    pub f54: Option<u32>,
    pub f55: Option<u32>,
    pub f56: Option<u32>,
    pub f57: Option<u32>,
    pub f58: Option<u32>,
    pub f59: Option<u32>,
    pub f60: Option<u32>,
    pub f61: Option<u32>,
    pub f62: Option<u32>,
    pub f63: Option<u32>,
    pub f64: Option<u32>,
    pub f65: Option<u32>,
}

/// A value assigned by a setter after a login as another user is that
/// user's change, whatever the old session held (as
/// `a_login_as_another_user_keeps_its_changes_that_equal_the_old_values`
/// shows for `Profile`). Past the 64th field the assignment is not told from
/// whole-value access, so it is skipped as the old user's leftover value.
#[tokio::test]
async fn a_setter_past_the_64th_field_after_a_login_as_another_user_is_written() {
    let env = env();
    let mut s = env.service.get::<Wide>(None).await.unwrap();
    s.login(session_core::Binding::user("roger"));
    s.set_f00(Some(20));
    s.set_f65(Some(20));
    let roger = env.service.commit(&mut s).await.unwrap();

    let mut s = env.service.get::<Wide>(Some(&token(&roger))).await.unwrap();
    s.login(session_core::Binding::user("grace"));
    // Grace's own values, equal to Roger's.
    s.set_f00(Some(20));
    s.set_f65(Some(20));
    let grace = env.service.commit(&mut s).await.unwrap();

    let s = env.service.get::<Wide>(Some(&token(&grace))).await.unwrap();
    assert_eq!(s.user_id().as_deref(), Some("grace"));
    assert_eq!(
        (*s.f00(), *s.f65()),
        (Some(20), Some(20)),
        "the set of field 65 was dropped (field 0's was kept)"
    );
}

/// The README's counter: a field assigned through the handle is tracked
/// like one its setter or `update_` method changed.
#[session_axum::session_data]
#[derive(Debug, Clone, Default)]
pub struct Counter {
    pub visits: u64,
    pub name: Option<String>,
}

#[tokio::test]
async fn a_field_assigned_through_the_handle_is_written_alone() {
    let env = env();
    let mut s = env.service.get::<Counter>(None).await.unwrap();
    s.set_name(Some("ada".into()));
    let t = token(&env.service.commit(&mut s).await.unwrap());
    env.store.clear();

    let mut s = env.service.get::<Counter>(Some(&t)).await.unwrap();
    s.visits += 1;
    env.service.commit(&mut s).await.unwrap();
    let writes = env.store.writes();
    let [StoreOp::Save(_, patch)] = writes.as_slice() else {
        panic!("{writes:?}")
    };
    assert_eq!(
        patch.set_fields.iter().collect::<Vec<_>>(),
        [("visits", "1")]
    );
    let back = env.service.get::<Counter>(Some(&t)).await.unwrap();
    assert_eq!((back.visits, back.name.as_deref()), (1, Some("ada")));
}
