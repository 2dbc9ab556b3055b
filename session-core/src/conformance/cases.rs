//! The conformance cases. Each takes a fresh store and the mock clock it uses.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock as _;
use crate::token::{Key, SigningKeys, TokenSigner};
use crate::{
    Binding, FieldMap, MockClock, PageRequest, SaveOutcome, SessionId, SessionInfo, SessionPatch,
    SessionRecord, SessionStore, StoreError, Timestamp,
};

pub use super::model::random_operations_match_a_model;

const HOUR: Duration = Duration::from_secs(3600);

fn record(clock: &MockClock, user: Option<&str>) -> SessionRecord {
    let now = clock.now();
    let mut r = SessionRecord::new(SessionId::generate(), now, now.plus(HOUR));
    r.fields = [("count", "1"), ("name", "\"ada\"")].into_iter().collect();
    r.binding = user.map(|u| Box::new(Binding::user(u).with_label("laptop")));
    r
}

fn patch(clock: &MockClock) -> SessionPatch {
    SessionPatch {
        last_seen: clock.now(),
        ..SessionPatch::default()
    }
}

fn fields(pairs: &[(&str, &str)]) -> FieldMap {
    pairs.iter().copied().collect()
}

fn assert_unsupported<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    assert!(
        matches!(result, Err(StoreError::Unsupported { .. })),
        "an undeclared operation must fail with Unsupported, got {result:?}"
    );
}

async fn create(store: &impl SessionStore, r: &SessionRecord) {
    store.create(r).await.expect("create");
}

/// The ids `store` lists for `user`, in the listing's order.
async fn listed_ids(store: &impl SessionStore, user: &str) -> Vec<SessionId> {
    let listed = store.list_for_user(user).await.unwrap();
    listed.into_iter().map(|i| i.id).collect()
}

/// Every entry `list` pages through.
async fn listed_everywhere(store: &impl SessionStore) -> Vec<SessionInfo> {
    let mut listed = Vec::new();
    let mut request = PageRequest::first(1000);
    loop {
        let page = store.list(request.clone()).await.unwrap();
        listed.extend(page.items);
        match page.next {
            Some(next) => request.cursor = Some(next),
            None => return listed,
        }
    }
}

async fn load(store: &impl SessionStore, id: &SessionId) -> Option<SessionRecord> {
    store.load(id).await.expect("load")
}

/// Everything written by `create` reads back.
pub async fn create_then_load_round_trips(store: impl SessionStore, clock: MockClock) {
    if store.client_side().is_some() {
        return;
    }
    let mut r = record(&clock, Some("u1"));
    r.flash = fields(&[("notice", "\"saved\"")]);
    create(&store, &r).await;
    let back = load(&store, &r.id).await.expect("created record loads");
    assert_eq!(back.id, r.id);
    assert_eq!(back.fields, r.fields);
    assert_eq!(back.flash, r.flash);
    assert_eq!(back.binding, r.binding);
    assert_eq!(back.created_at, r.created_at);
    assert_eq!(back.last_seen, r.last_seen);
    assert_eq!(back.expires_at, r.expires_at);
}

/// `create` never overwrites a live record.
pub async fn create_refuses_an_existing_id(store: impl SessionStore, clock: MockClock) {
    if store.client_side().is_some() {
        return;
    }
    let r = record(&clock, None);
    create(&store, &r).await;
    let mut other = record(&clock, Some("intruder"));
    other.id = r.id;
    other.fields = fields(&[("count", "99")]);
    assert!(matches!(
        store.create(&other).await,
        Err(StoreError::Collision)
    ));
    let back = load(&store, &r.id).await.expect("original survives");
    assert_eq!(back.fields, r.fields);
    assert_eq!(back.binding, None);
}

/// An id whose record expired may be created again.
pub async fn create_may_reuse_an_expired_id(store: impl SessionStore, clock: MockClock) {
    if store.client_side().is_some() {
        return;
    }
    let r = record(&clock, None);
    create(&store, &r).await;
    clock.advance(HOUR + Duration::from_secs(1));
    let mut again = record(&clock, None);
    again.id = r.id;
    again.fields = fields(&[("count", "7")]);
    create(&store, &again).await;
    assert_eq!(
        load(&store, &r.id).await.expect("recreated").fields,
        again.fields
    );
}

/// `create` sent again with the very same record (a retry after its reply
/// was lost) answers `Ok` (the create applied once) or `Collision`, and
/// changes nothing either way; a record that differs in anything, or a
/// retry once the session was changed since, is always a collision.
pub async fn create_retried_with_the_same_record_is_applied_once(
    store: impl SessionStore,
    clock: MockClock,
) {
    if store.client_side().is_some() {
        return;
    }
    let user = format!("u-{}", SessionId::generate());
    let mut r = record(&clock, Some(&user));
    r.flash = fields(&[("notice", "\"hi\"")]);
    create(&store, &r).await;
    let first = load(&store, &r.id).await.expect("created record loads");
    let unchanged = async |why: &str| {
        assert_eq!(
            load(&store, &r.id).await.as_ref(),
            Some(&first),
            "{why} changed the record"
        );
        if store.capabilities().user_index {
            assert_eq!(listed_ids(&store, &user).await, [r.id], "{why}");
        }
    };
    match store.create(&r).await {
        Ok(()) | Err(StoreError::Collision) => {}
        other => panic!("a retried create answered {other:?}"),
    }
    unchanged("a retried create").await;
    // Exactly this record, or it is another create of the same id.
    let later = clock.now().plus(Duration::from_secs(1));
    let mut variants: Vec<(&str, SessionRecord)> = Vec::new();
    let mut v = r.clone();
    v.fields.insert("count", "2");
    variants.push(("another field value", v));
    let mut v = r.clone();
    v.fields.remove("name");
    variants.push(("a field fewer", v));
    let mut v = r.clone();
    v.flash = FieldMap::default();
    variants.push(("no flash", v));
    let mut v = r.clone();
    v.expires_at = r.expires_at.plus(HOUR);
    variants.push(("another expiry", v));
    let mut v = r.clone();
    v.last_seen = later;
    variants.push(("another last use", v));
    let mut v = r.clone();
    v.binding = Some(Box::new(Binding::user("someone-else").with_label("laptop")));
    variants.push(("another user", v));
    let mut v = r.clone();
    v.binding = None;
    variants.push(("no user", v));
    for (what, v) in &variants {
        assert!(
            matches!(store.create(v).await, Err(StoreError::Collision)),
            "a create with {what} was taken for a retry"
        );
        unchanged(&format!("a create with {what}")).await;
    }
    // Once the session was used, the old create is not a retry any more.
    let mut p = patch(&clock);
    p.set_fields = fields(&[("count", "2")]);
    assert_eq!(store.save(&r.id, &p).await.unwrap(), SaveOutcome::Saved);
    let saved = load(&store, &r.id).await.expect("saved record loads");
    assert!(matches!(store.create(&r).await, Err(StoreError::Collision)));
    assert_eq!(load(&store, &r.id).await, Some(saved));
}

/// Unknown ids read back as none, not an error.
pub async fn load_of_unknown_id_is_none(store: impl SessionStore, _clock: MockClock) {
    if store.client_side().is_some() {
        return;
    }
    assert_eq!(load(&store, &SessionId::generate()).await, None);
}

/// `load_at` with a time read from the shared clock answers as `load`
/// does: the live record, none once it expired, was deleted or never was,
/// and what a save wrote (also after an earlier `load_at` read the record).
pub async fn load_at_reads_as_load_does(store: impl SessionStore, clock: MockClock) {
    if store.client_side().is_some() {
        return;
    }
    let load_at = async |id: &SessionId| store.load_at(id, clock.now()).await.expect("load_at");
    assert_eq!(load_at(&SessionId::generate()).await, None);
    let r = record(&clock, Some("u1"));
    create(&store, &r).await;
    let back = load_at(&r.id).await.expect("created record loads");
    assert_eq!(Some(&back), load(&store, &r.id).await.as_ref());
    assert_eq!(
        (&back.fields, &back.binding, back.expires_at),
        (&r.fields, &r.binding, r.expires_at)
    );
    let mut p = patch(&clock);
    p.set_fields = fields(&[("count", "2")]);
    assert_eq!(store.save(&r.id, &p).await.unwrap(), SaveOutcome::Saved);
    let saved = load_at(&r.id).await.expect("saved record loads");
    assert_eq!(saved.fields.get("count"), Some("2"));
    assert_eq!(Some(saved), load(&store, &r.id).await);
    clock.advance(HOUR - Duration::from_millis(1));
    assert!(load_at(&r.id).await.is_some());
    clock.advance(Duration::from_millis(1));
    assert_eq!(load_at(&r.id).await, None, "loaded at its expiry");
    let d = record(&clock, None);
    create(&store, &d).await;
    assert!(load_at(&d.id).await.is_some());
    assert!(store.delete(&d.id).await.unwrap());
    assert_eq!(load_at(&d.id).await, None, "loaded once deleted");
}

/// A patch of some fields leaves the others intact.
pub async fn save_sets_only_the_patched_fields(store: impl SessionStore, clock: MockClock) {
    if store.client_side().is_some() {
        return;
    }
    let r = record(&clock, None);
    create(&store, &r).await;
    let mut p = patch(&clock);
    p.set_fields = fields(&[("count", "2"), ("extra", "[1,2]")]);
    assert_eq!(store.save(&r.id, &p).await.unwrap(), SaveOutcome::Saved);
    let back = load(&store, &r.id).await.unwrap();
    assert_eq!(
        back.fields,
        fields(&[("count", "2"), ("extra", "[1,2]"), ("name", "\"ada\"")])
    );
}

/// Removed fields are gone afterwards.
pub async fn save_removes_fields(store: impl SessionStore, clock: MockClock) {
    if store.client_side().is_some() {
        return;
    }
    let r = record(&clock, None);
    create(&store, &r).await;
    let mut p = patch(&clock);
    p.removed_fields = vec!["name".into()];
    assert_eq!(store.save(&r.id, &p).await.unwrap(), SaveOutcome::Saved);
    assert_eq!(
        load(&store, &r.id).await.unwrap().fields,
        fields(&[("count", "1")])
    );
}

/// Flash values are set and removed like fields, in their own namespace.
pub async fn save_sets_and_removes_flash(store: impl SessionStore, clock: MockClock) {
    if store.client_side().is_some() {
        return;
    }
    let r = record(&clock, None);
    create(&store, &r).await;
    let mut p = patch(&clock);
    p.set_flash = fields(&[("count", "\"flash\""), ("error", "\"bad\"")]);
    store.save(&r.id, &p).await.unwrap();
    let back = load(&store, &r.id).await.unwrap();
    assert_eq!(
        back.flash,
        fields(&[("count", "\"flash\""), ("error", "\"bad\"")])
    );
    assert_eq!(
        back.fields, r.fields,
        "a flash value does not touch the field of the same name"
    );
    let mut p = patch(&clock);
    p.taken_flash = fields(&[("error", "\"bad\"")]);
    store.save(&r.id, &p).await.unwrap();
    assert_eq!(
        load(&store, &r.id).await.unwrap().flash,
        fields(&[("count", "\"flash\"")])
    );
}

/// A taken flash is removed only while it holds the value read: another
/// value a concurrent request set since survives for the next read.
pub async fn a_flash_set_again_since_it_was_taken_survives(
    store: impl SessionStore,
    clock: MockClock,
) {
    if store.client_side().is_some() {
        return;
    }
    let r = record(&clock, None);
    create(&store, &r).await;
    let mut first = patch(&clock);
    first.set_flash = fields(&[("msg", "\"one\""), ("other", "1")]);
    store.save(&r.id, &first).await.unwrap();
    // Another request flashes `msg` again after this one read "one".
    let mut again = patch(&clock);
    again.set_flash = fields(&[("msg", "\"two\"")]);
    store.save(&r.id, &again).await.unwrap();
    let mut taken = patch(&clock);
    taken.taken_flash = fields(&[("msg", "\"one\""), ("other", "1")]);
    assert_eq!(store.save(&r.id, &taken).await.unwrap(), SaveOutcome::Saved);
    assert_eq!(
        load(&store, &r.id).await.unwrap().flash,
        fields(&[("msg", "\"two\"")]),
        "the flash set again is kept, the one read unchanged is removed"
    );
}

/// Expiry moves only when the patch carries one.
pub async fn save_moves_expiry_only_when_asked(store: impl SessionStore, clock: MockClock) {
    if store.client_side().is_some() {
        return;
    }
    let r = record(&clock, None);
    create(&store, &r).await;
    let mut p = patch(&clock);
    p.set_fields = fields(&[("count", "2")]);
    store.save(&r.id, &p).await.unwrap();
    assert_eq!(load(&store, &r.id).await.unwrap().expires_at, r.expires_at);
    let later = r.expires_at.plus(HOUR);
    p.expires_at = Some(later);
    store.save(&r.id, &p).await.unwrap();
    assert_eq!(load(&store, &r.id).await.unwrap().expires_at, later);
}

/// Each data save bumps the revision.
pub async fn save_increments_the_revision(store: impl SessionStore, clock: MockClock) {
    if store.client_side().is_some() {
        return;
    }
    let r = record(&clock, None);
    create(&store, &r).await;
    let before = load(&store, &r.id).await.unwrap().revision;
    let mut p = patch(&clock);
    p.set_fields = fields(&[("count", "2")]);
    store.save(&r.id, &p).await.unwrap();
    store.save(&r.id, &p).await.unwrap();
    assert_eq!(load(&store, &r.id).await.unwrap().revision, before + 2);
}

/// A save of a deleted session writes nothing.
pub async fn save_never_resurrects_a_deleted_session(store: impl SessionStore, clock: MockClock) {
    if store.client_side().is_some() {
        return;
    }
    let r = record(&clock, None);
    create(&store, &r).await;
    assert!(store.delete(&r.id).await.unwrap());
    let mut p = patch(&clock);
    p.set_fields = fields(&[("count", "5")]);
    p.expires_at = Some(clock.now().plus(HOUR));
    assert_eq!(store.save(&r.id, &p).await.unwrap(), SaveOutcome::Missing);
    assert_eq!(load(&store, &r.id).await, None);
}

/// A save of an expired session writes nothing.
pub async fn save_never_resurrects_an_expired_session(store: impl SessionStore, clock: MockClock) {
    if store.client_side().is_some() {
        return;
    }
    let r = record(&clock, None);
    create(&store, &r).await;
    clock.advance(HOUR);
    let mut p = patch(&clock);
    p.set_fields = fields(&[("count", "5")]);
    p.expires_at = Some(clock.now().plus(HOUR));
    assert_eq!(store.save(&r.id, &p).await.unwrap(), SaveOutcome::Missing);
    assert_eq!(load(&store, &r.id).await, None);
}

/// The size limit a server-side store declares; `None` (the case skips)
/// for a client-side store or one without a limit.
fn server_side_limit(store: &impl SessionStore) -> Option<usize> {
    match store.client_side() {
        Some(_) => None,
        None => store.capabilities().max_record_bytes,
    }
}

/// A record over the store's declared size limit
/// ([`Capabilities::max_record_bytes`](crate::Capabilities::max_record_bytes))
/// is refused with `TooLarge` by `create` (nothing stored) and by `save`
/// (nothing written: not the other values of the patch, not its times),
/// also when the patch alone is under the limit. Stores that declare no
/// limit skip this case.
pub async fn records_over_the_size_limit_are_refused_whole(
    store: impl SessionStore,
    clock: MockClock,
) {
    let Some(limit) = server_side_limit(&store) else {
        return;
    };
    let user = format!("u-{}", SessionId::generate());
    let value = |bytes: usize| format!("\"{}\"", "x".repeat(bytes));
    let assert_too_large = |result, what: &str| assert_too_large(result, limit, what);
    let mut big = record(&clock, Some(&user));
    big.fields.insert("big", value(limit));
    assert_too_large(store.create(&big).await, "create");
    assert_eq!(load(&store, &big.id).await, None, "a refused create stored");
    if store.capabilities().user_index {
        assert_eq!(listed_ids(&store, &user).await, []);
    }

    let mut r = record(&clock, Some(&user));
    r.fields.insert("half", value(limit / 2));
    create(&store, &r).await;
    let before = load(&store, &r.id).await.expect("created record loads");
    clock.advance(Duration::from_secs(10));
    let mut p = patch(&clock);
    p.expires_at = Some(clock.now().plus(HOUR * 2));
    p.removed_fields = vec!["name".into()];
    p.set_flash = fields(&[("notice", "\"hi\"")]);
    p.set_fields = fields(&[("count", "2"), ("big", value(limit).as_str())]);
    assert_too_large(
        store.save(&r.id, &p).await.map(|_| ()),
        "a save over the limit",
    );
    // Under the limit alone, over it with what the record holds.
    p.set_fields = fields(&[("count", "2"), ("more", value(limit / 2 + 16).as_str())]);
    assert_too_large(
        store.save(&r.id, &p).await.map(|_| ()),
        "a save that grows the record over the limit",
    );
    assert_eq!(
        load(&store, &r.id).await,
        Some(before),
        "a refused save wrote part of its patch"
    );
    if store.capabilities().user_index {
        assert_eq!(listed_ids(&store, &user).await, [r.id]);
    }
}

/// `result` is `TooLarge` naming `limit` and a size over it.
fn assert_too_large(result: Result<(), StoreError>, limit: usize, what: &str) {
    match result {
        Err(StoreError::TooLarge { size, limit: l }) => {
            assert_eq!(l, limit, "{what}: the error names another limit");
            assert!(size > limit, "{what}: size {size}, limit {limit}");
        }
        other => panic!("{what}: expected TooLarge, got {other:?}"),
    }
}

/// The binding (user id, label, meta) counts toward the declared size limit
/// with the data: a login's label and meta come from clients, and a store
/// that left them out would keep unbounded bytes per session. A record with
/// small data and a binding over the limit is refused with `TooLarge` by
/// `create`, and nothing is stored: it neither loads nor is listed. Stores
/// that declare no limit skip this case.
pub async fn a_binding_over_the_size_limit_is_refused(store: impl SessionStore, clock: MockClock) {
    let Some(limit) = server_side_limit(&store) else {
        return;
    };
    let user = format!("u-{}", SessionId::generate());
    let big = "x".repeat(limit + 1);
    let long_user = format!("{user}-{big}");
    let cases = [
        (
            "a label",
            &user,
            Binding::user(&user).with_label(big.as_str()),
        ),
        (
            "a meta",
            &user,
            Binding::user(&user).with_meta(serde_json::json!({ "note": big })),
        ),
        ("a user id", &long_user, Binding::user(&long_user)),
    ];
    for (what, user, binding) in cases {
        let mut r = record(&clock, None);
        r.binding = Some(Box::new(binding));
        assert_too_large(store.create(&r).await, limit, what);
        assert_eq!(
            load(&store, &r.id).await,
            None,
            "{what}: a refused create stored"
        );
        if store.capabilities().user_index {
            assert_eq!(listed_ids(&store, user).await, [], "{what}: listed");
        }
    }
}

/// A save counts the binding the record holds: data each save leaves under
/// the limit cannot grow a bound record past it. The refused save writes
/// nothing. Stores that declare no limit skip this case.
pub async fn a_save_counts_the_binding_toward_the_size_limit(
    store: impl SessionStore,
    clock: MockClock,
) {
    let Some(limit) = server_side_limit(&store) else {
        return;
    };
    let user = format!("u-{}", SessionId::generate());
    let mut r = record(&clock, None);
    r.binding = Some(Box::new(
        Binding::user(&user).with_label("x".repeat(limit / 2)),
    ));
    create(&store, &r).await;
    let before = load(&store, &r.id).await.expect("created record loads");
    // Under the limit alone, over it with the label.
    let mut p = patch(&clock);
    p.set_fields = fields(&[("more", &format!("\"{}\"", "y".repeat(limit / 2 + 16)))]);
    assert_too_large(
        store.save(&r.id, &p).await.map(|_| ()),
        limit,
        "a save that grows a bound record over the limit",
    );
    assert_eq!(
        load(&store, &r.id).await,
        Some(before),
        "a refused save wrote part of its patch"
    );
}

/// With `expected_revision`, a stale save is refused and writes nothing.
pub async fn compare_and_set_refuses_a_stale_revision(store: impl SessionStore, clock: MockClock) {
    if store.client_side().is_some() {
        return;
    }
    if !store.capabilities().compare_and_set {
        return;
    }
    let r = record(&clock, None);
    create(&store, &r).await;
    let loaded = load(&store, &r.id).await.unwrap();
    let mut first = patch(&clock);
    first.set_fields = fields(&[("count", "2")]);
    first.expected_revision = Some(loaded.revision);
    assert_eq!(store.save(&r.id, &first).await.unwrap(), SaveOutcome::Saved);
    let mut stale = patch(&clock);
    stale.set_fields = fields(&[("count", "3")]);
    stale.expected_revision = Some(loaded.revision);
    assert_eq!(
        store.save(&r.id, &stale).await.unwrap(),
        SaveOutcome::Conflict {
            current: loaded.revision + 1
        }
    );
    assert_eq!(
        load(&store, &r.id).await.unwrap().fields.get("count"),
        Some("2")
    );
}

/// Concurrent saves expecting the same revision: exactly one is saved, the
/// others conflict, and the revision moves by one.
pub async fn concurrent_compare_and_set_lets_exactly_one_save_through(
    store: impl SessionStore,
    clock: MockClock,
) {
    if store.client_side().is_some() || !store.capabilities().compare_and_set {
        return;
    }
    let store = Arc::new(store);
    for _ in 0..20 {
        let r = record(&clock, None);
        create(&*store, &r).await;
        let revision = load(&*store, &r.id).await.unwrap().revision;
        let mut tasks = Vec::new();
        for i in 0..8 {
            let store = store.clone();
            let mut p = patch(&clock);
            p.set_fields = fields(&[("count", &i.to_string())]);
            p.expected_revision = Some(revision);
            tasks.push(tokio::spawn(async move { store.save(&r.id, &p).await }));
        }
        let mut saved = Vec::new();
        for (i, t) in tasks.into_iter().enumerate() {
            match t.await.unwrap().unwrap() {
                SaveOutcome::Saved => saved.push(i.to_string()),
                SaveOutcome::Conflict { current } => assert_eq!(current, revision + 1),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(saved.len(), 1, "compare-and-set let {saved:?} through");
        let back = load(&*store, &r.id).await.unwrap();
        assert_eq!(back.revision, revision + 1);
        assert_eq!(back.fields.get("count"), Some(saved[0].as_str()));
    }
}

/// A touch racing a save loses neither's change; a save racing a delete
/// never brings the session back.
pub async fn touch_save_and_delete_racing_lose_nothing_and_resurrect_nothing(
    store: impl SessionStore,
    clock: MockClock,
) {
    if store.client_side().is_some() {
        return;
    }
    let store = Arc::new(store);
    for n in 0..30 {
        let r = record(&clock, Some("racer"));
        create(&*store, &r).await;
        let (a, b) = (store.clone(), store.clone());
        let mut p = patch(&clock);
        p.set_fields = fields(&[("f", &n.to_string())]);
        let (now, later) = (clock.now(), clock.now().plus(HOUR * 2));
        let save = tokio::spawn(async move { a.save(&r.id, &p).await });
        let touch = tokio::spawn(async move { b.touch(&r.id, later, now, Some("racer")).await });
        save.await.unwrap().unwrap();
        touch.await.unwrap().unwrap();
        let back = load(&*store, &r.id).await.unwrap();
        assert_eq!(
            back.fields.get("f"),
            Some(n.to_string().as_str()),
            "a touch lost a save"
        );
        assert_eq!(back.expires_at, later, "a save lost a touch");

        let (a, b) = (store.clone(), store.clone());
        let mut p = patch(&clock);
        p.set_fields = fields(&[("g", "1")]);
        p.expires_at = Some(later.plus(HOUR));
        let save = tokio::spawn(async move { a.save(&r.id, &p).await });
        let delete = tokio::spawn(async move { b.delete(&r.id).await });
        save.await.unwrap().unwrap();
        delete.await.unwrap().unwrap();
        assert_eq!(
            load(&*store, &r.id).await,
            None,
            "a save brought a deleted session back"
        );
    }
    assert_eq!(listed_ids(&*store, "racer").await, Vec::new());
}

/// Concurrent saves of different fields both survive (stores with field patches).
pub async fn concurrent_patches_of_different_fields_both_survive(
    store: impl SessionStore,
    clock: MockClock,
) {
    if store.client_side().is_some() {
        return;
    }
    if !store.capabilities().field_patch {
        return;
    }
    let store = Arc::new(store);
    let r = record(&clock, None);
    create(&*store, &r).await;
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = store.clone();
        let mut p = patch(&clock);
        p.set_fields = fields(&[(&format!("f{i}"), &i.to_string())]);
        tasks.push(tokio::spawn(async move { store.save(&r.id, &p).await }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap(), SaveOutcome::Saved);
    }
    let back = load(&*store, &r.id).await.unwrap();
    for i in 0..16 {
        assert_eq!(
            back.fields.get(&format!("f{i}")),
            Some(i.to_string().as_str()),
            "field f{i} lost"
        );
    }
    assert_eq!(back.fields.get("name"), Some("\"ada\""));
}

/// `touch` moves expiry and last-seen, not data.
pub async fn touch_moves_expiry_and_keeps_data(store: impl SessionStore, clock: MockClock) {
    if store.client_side().is_some() {
        return;
    }
    let r = record(&clock, None);
    create(&store, &r).await;
    clock.advance(Duration::from_secs(60));
    let later = clock.now().plus(HOUR);
    assert_eq!(
        store.touch(&r.id, later, clock.now(), None).await.unwrap(),
        SaveOutcome::Saved
    );
    let back = load(&store, &r.id).await.unwrap();
    assert_eq!(back.expires_at, later);
    assert_eq!(back.last_seen, clock.now());
    assert_eq!(back.fields, r.fields);
    assert_eq!(back.revision, r.revision, "a touch is not a data change");
}

/// Touching a missing session reports it and creates nothing.
pub async fn touch_of_missing_session_is_missing(store: impl SessionStore, clock: MockClock) {
    if store.client_side().is_some() {
        return;
    }
    let id = SessionId::generate();
    assert_eq!(
        store
            .touch(&id, clock.now().plus(HOUR), clock.now(), None)
            .await
            .unwrap(),
        SaveOutcome::Missing
    );
    assert_eq!(load(&store, &id).await, None);
}

/// A touched session outlives its original expiry.
pub async fn touch_keeps_a_session_alive_past_its_old_expiry(
    store: impl SessionStore,
    clock: MockClock,
) {
    if store.client_side().is_some() {
        return;
    }
    let r = record(&clock, None);
    create(&store, &r).await;
    clock.advance(HOUR / 2);
    store
        .touch(&r.id, clock.now().plus(HOUR), clock.now(), None)
        .await
        .unwrap();
    clock.advance(HOUR * 3 / 4);
    assert!(
        load(&store, &r.id).await.is_some(),
        "refreshed session expired at its old time"
    );
    clock.advance(HOUR / 2);
    assert_eq!(load(&store, &r.id).await, None);
}

/// A bound session refreshed past its old expiry, by `touch` or by a save
/// that moves the expiry, with or without the caller naming its user, stays
/// in its user's listing (and in revoke-all's reach) until its new expiry,
/// also when the user logs in elsewhere after the old expiry.
pub async fn refreshed_bound_sessions_stay_listed_past_their_old_expiry(
    store: impl SessionStore,
    clock: MockClock,
) {
    if store.client_side().is_some() || !store.capabilities().user_index {
        return;
    }
    let user = format!("u-{}", SessionId::generate());
    let r = record(&clock, Some(&user));
    create(&store, &r).await;
    let listed = async || -> Vec<SessionId> {
        let infos = store.list_for_user(&user).await.unwrap();
        infos.into_iter().map(|i| i.id).collect()
    };
    clock.advance(HOUR / 2);
    // Each step refreshes to an hour from now, then moves past the expiry
    // before it (a quarter of an hour away) but not past the new one.
    for step in 0..3 {
        let later = clock.now().plus(HOUR);
        let outcome = match step {
            0 => store.touch(&r.id, later, clock.now(), Some(&user)).await,
            1 => {
                let mut p = patch(&clock);
                p.set_fields = fields(&[("count", "2")]);
                p.expires_at = Some(later);
                p.user_id = Some(user.clone());
                store.save(&r.id, &p).await
            }
            _ => store.touch(&r.id, later, clock.now(), None).await,
        };
        assert_eq!(outcome.unwrap(), SaveOutcome::Saved, "step {step}");
        clock.advance(HOUR * 3 / 4);
        // A login elsewhere meanwhile (an index may trim expired entries then).
        create(&store, &record(&clock, Some(&user))).await;
        assert!(
            listed().await.contains(&r.id),
            "step {step}: not listed past its old expiry"
        );
    }
    let live = listed().await.len();
    assert_eq!(store.delete_for_user(&user, None).await.unwrap(), live);
    assert_eq!(load(&store, &r.id).await, None);
}

/// `delete` removes the record and says so.
pub async fn delete_removes_the_record(store: impl SessionStore, clock: MockClock) {
    if store.client_side().is_some() {
        return;
    }
    let r = record(&clock, None);
    create(&store, &r).await;
    assert!(store.delete(&r.id).await.unwrap());
    assert_eq!(load(&store, &r.id).await, None);
    assert!(!store.delete(&r.id).await.unwrap());
}

/// Deleting an unknown id is a no-op.
pub async fn delete_of_unknown_id_is_false(store: impl SessionStore, _clock: MockClock) {
    if store.client_side().is_some() {
        return;
    }
    assert!(!store.delete(&SessionId::generate()).await.unwrap());
}

/// A record is never returned once its expiry passed.
pub async fn expired_records_are_not_loaded(store: impl SessionStore, clock: MockClock) {
    if store.client_side().is_some() {
        return;
    }
    let r = record(&clock, None);
    create(&store, &r).await;
    clock.advance(HOUR - Duration::from_millis(1));
    assert!(load(&store, &r.id).await.is_some());
    clock.advance(Duration::from_millis(1));
    assert_eq!(load(&store, &r.id).await, None);
}

/// Bound sessions past their expiry, that nobody loaded since, are gone for
/// every operation: not listed for their user nor in `list`, `touch` and
/// `save` (with or without the user named) report them missing and bring
/// nothing back, `delete` finds none, and revoke-all does not count them.
pub async fn expired_sessions_are_gone_for_every_operation(
    store: impl SessionStore,
    clock: MockClock,
) {
    if store.client_side().is_some() {
        return;
    }
    let caps = store.capabilities();
    let user = format!("u-{}", SessionId::generate());
    // One for each of touch and save, delete, and revoke-all, each reached
    // by nothing before (revoke-all's of another user, whose index no
    // listing cleaned first), and a live session of each user.
    let other = format!("{user}-2");
    let [patched, deleted] = [(); 2].map(|()| record(&clock, Some(&user)));
    let revoked = record(&clock, Some(&other));
    for r in [&patched, &deleted, &revoked] {
        create(&store, r).await;
    }
    let [mut live, mut other_live] = [&user, &other].map(|u| record(&clock, Some(u)));
    for r in [&mut live, &mut other_live] {
        r.expires_at = clock.now().plus(HOUR * 2);
        create(&store, r).await;
    }
    clock.advance(HOUR);
    let expired = [patched.id, deleted.id, revoked.id];
    let not_listed = async |when: &str| {
        if caps.user_index {
            assert_eq!(
                listed_ids(&store, &user).await,
                [live.id],
                "{when}: expired session listed for its user"
            );
        }
        if caps.listing {
            assert!(
                listed_everywhere(&store)
                    .await
                    .iter()
                    .all(|i| !expired.contains(&i.id)),
                "{when}: expired session listed"
            );
        }
    };
    not_listed("untouched").await;
    if caps.user_index {
        assert_eq!(
            store.delete_for_user(&other, None).await.unwrap(),
            1,
            "revoke-all counted an expired session"
        );
    }
    assert_eq!(load(&store, &revoked.id).await, None);
    assert!(
        !store.delete(&deleted.id).await.unwrap(),
        "delete found an expired session"
    );
    let later = clock.now().plus(HOUR);
    for user_id in [Some(user.as_str()), None] {
        assert_eq!(
            store
                .touch(&patched.id, later, clock.now(), user_id)
                .await
                .unwrap(),
            SaveOutcome::Missing,
            "touch naming {user_id:?}"
        );
        let mut p = patch(&clock);
        p.set_fields = fields(&[("count", "5")]);
        p.expires_at = Some(later);
        p.user_id = user_id.map(str::to_owned);
        assert_eq!(
            store.save(&patched.id, &p).await.unwrap(),
            SaveOutcome::Missing,
            "save naming {user_id:?}"
        );
        not_listed("after a refused touch and save").await;
    }
    assert_eq!(load(&store, &patched.id).await, None);
    assert_eq!(load(&store, &deleted.id).await, None);
    assert!(load(&store, &live.id).await.is_some());
}

/// The save with which a login or rotation closes the old record: its
/// expiry long past, on condition of the revision read, naming the user.
fn close(clock: &MockClock, revision: u64, user: &str) -> SessionPatch {
    SessionPatch {
        expires_at: Some(Timestamp::EPOCH),
        expected_revision: Some(revision),
        user_id: Some(user.to_owned()),
        ..patch(clock)
    }
}

/// A close (see `close`) at a stale revision conflicts and changes nothing:
/// the record loads as it was, with its data, and stays listed. At the
/// current revision it is saved, and the record loads no more. Stores
/// without compare-and-set skip the stale close.
pub async fn a_close_is_saved_only_at_the_current_revision(
    store: impl SessionStore,
    clock: MockClock,
) {
    if store.client_side().is_some() {
        return;
    }
    let caps = store.capabilities();
    let user = format!("u-{}", SessionId::generate());
    let r = record(&clock, Some(&user));
    create(&store, &r).await;
    let mut current = load(&store, &r.id).await.expect("created").revision;
    clock.advance(Duration::from_secs(1));
    if caps.compare_and_set {
        let read = current;
        let mut p = patch(&clock);
        p.set_fields = fields(&[("count", "2")]);
        assert_eq!(store.save(&r.id, &p).await.unwrap(), SaveOutcome::Saved);
        let saved = load(&store, &r.id).await.expect("saved record loads");
        current = saved.revision;
        clock.advance(Duration::from_secs(1));
        assert_eq!(
            store
                .save(&r.id, &close(&clock, read, &user))
                .await
                .unwrap(),
            SaveOutcome::Conflict { current },
            "a close at a stale revision"
        );
        assert_eq!(
            load(&store, &r.id).await,
            Some(saved),
            "a stale close changed the record"
        );
        if caps.user_index {
            assert_eq!(listed_ids(&store, &user).await, [r.id], "stale close");
        }
        if caps.listing {
            assert!(
                listed_everywhere(&store).await.iter().any(|i| i.id == r.id),
                "a stale close took the record out of the listing"
            );
        }
    }
    assert_eq!(
        store
            .save(&r.id, &close(&clock, current, &user))
            .await
            .unwrap(),
        SaveOutcome::Saved,
        "a close at the current revision"
    );
    assert_eq!(load(&store, &r.id).await, None, "a closed record loads");
}

/// A closed record is gone for every operation: `load` and `load_at` find
/// none, no listing holds it, `touch` and `save` (the close sent again too,
/// with or without an expected revision, naming the user or not) answer
/// missing and bring nothing back, revoke-all does not count it, and its id
/// may be created again.
pub async fn a_closed_record_is_gone_for_every_operation(
    store: impl SessionStore,
    clock: MockClock,
) {
    if store.client_side().is_some() {
        return;
    }
    let caps = store.capabilities();
    let user = format!("u-{}", SessionId::generate());
    let closed = record(&clock, Some(&user));
    let live = record(&clock, Some(&user));
    create(&store, &closed).await;
    create(&store, &live).await;
    let revision = load(&store, &closed.id).await.expect("created").revision;
    clock.advance(Duration::from_secs(1));
    let closing = close(&clock, revision, &user);
    assert_eq!(
        store.save(&closed.id, &closing).await.unwrap(),
        SaveOutcome::Saved
    );
    let gone = async |when: &str| {
        assert_eq!(load(&store, &closed.id).await, None, "{when}: loaded");
        let at = store.load_at(&closed.id, clock.now()).await.unwrap();
        assert_eq!(at, None, "{when}: loaded by load_at");
        if caps.user_index {
            assert_eq!(
                listed_ids(&store, &user).await,
                [live.id],
                "{when}: listed for its user"
            );
        }
        if caps.listing {
            assert!(
                listed_everywhere(&store)
                    .await
                    .iter()
                    .all(|i| i.id != closed.id),
                "{when}: listed"
            );
        }
    };
    gone("closed").await;
    clock.advance(Duration::from_secs(1));
    let later = clock.now().plus(HOUR);
    for user_id in [Some(user.as_str()), None] {
        assert_eq!(
            store
                .touch(&closed.id, later, clock.now(), user_id)
                .await
                .unwrap(),
            SaveOutcome::Missing,
            "touch naming {user_id:?}"
        );
        gone("after a touch").await;
        for expected_revision in [None, Some(revision)] {
            let mut p = patch(&clock);
            p.set_fields = fields(&[("count", "5")]);
            p.expires_at = Some(later);
            p.expected_revision = expected_revision;
            p.user_id = user_id.map(str::to_owned);
            assert_eq!(
                store.save(&closed.id, &p).await.unwrap(),
                SaveOutcome::Missing,
                "save naming {user_id:?} expecting {expected_revision:?}"
            );
            gone("after a save").await;
        }
    }
    let mut again = closing.clone();
    again.last_seen = clock.now();
    assert_eq!(
        store.save(&closed.id, &again).await.unwrap(),
        SaveOutcome::Missing,
        "the close sent again"
    );
    gone("after the close sent again").await;
    if caps.user_index {
        assert_eq!(
            store.delete_for_user(&user, None).await.unwrap(),
            1,
            "revoke-all counted a closed record"
        );
        assert_eq!(load(&store, &live.id).await, None);
    }
    let mut reused = record(&clock, Some(&user));
    reused.id = closed.id;
    reused.fields = fields(&[("count", "7")]);
    create(&store, &reused).await;
    let back = load(&store, &closed.id).await.expect("recreated");
    assert_eq!(back.fields, reused.fields);
    assert_eq!(back.expires_at, reused.expires_at);
    if caps.user_index {
        assert!(listed_ids(&store, &user).await.contains(&closed.id));
    }
}

/// A moved marker created under the old id's marker id reads back as a
/// marker naming the same new id (or none), by `load` and `load_at`, is
/// listed as a marker by `list`, until its expiry, and is gone from then on.
pub async fn a_moved_marker_reads_back_until_its_expiry(
    store: impl SessionStore,
    clock: MockClock,
) {
    if store.client_side().is_some() {
        return;
    }
    let grace = Duration::from_secs(60);
    let now = clock.now();
    let until = now.plus(grace);
    let to = SessionId::generate();
    let markers: Vec<(SessionId, Option<SessionId>)> = vec![
        (SessionId::generate(), Some(to)),
        (SessionId::generate(), None),
    ];
    for &(old, to) in &markers {
        let marker = SessionRecord::moved_marker(old, to, now, until);
        assert_eq!(marker.id, old.moved_marker_id());
        create(&store, &marker).await;
    }
    let read_back = async |when: &str| {
        for &(old, to) in &markers {
            let id = old.moved_marker_id();
            let at = store.load_at(&id, clock.now()).await.unwrap();
            for (how, back) in [("load", load(&store, &id).await), ("load_at", at)] {
                let back = back.unwrap_or_else(|| panic!("{when}: {how} found no marker"));
                assert!(back.is_moved_marker(), "{when}: {how} read no marker");
                assert_eq!(back.moved_to(), to, "{when}: {how} read another new id");
                assert_eq!(back.expires_at, until, "{when}: {how}");
            }
            assert_eq!(load(&store, &old).await, None, "{when}: the old id loads");
        }
        if store.capabilities().listing {
            let listed = listed_everywhere(&store).await;
            for &(old, _) in &markers {
                let id = old.moved_marker_id();
                let info = listed.iter().find(|i| i.id == id);
                assert!(
                    info.is_some_and(SessionInfo::is_moved_marker),
                    "{when}: listed {info:?}"
                );
            }
        }
    };
    read_back("created").await;
    clock.advance(grace - Duration::from_millis(1));
    read_back("just before its expiry").await;
    clock.advance(Duration::from_millis(1));
    for &(old, _) in &markers {
        let id = old.moved_marker_id();
        assert_eq!(load(&store, &id).await, None, "loaded at its expiry");
        let at = store.load_at(&id, clock.now()).await.unwrap();
        assert_eq!(at, None, "loaded by load_at at its expiry");
    }
    if store.capabilities().listing {
        let listed = listed_everywhere(&store).await;
        for &(old, _) in &markers {
            let id = old.moved_marker_id();
            assert!(listed.iter().all(|i| i.id != id), "listed at its expiry");
        }
    }
}

/// A user's listing holds that user's live sessions only.
pub async fn list_for_user_lists_only_that_users_live_sessions(
    store: impl SessionStore,
    clock: MockClock,
) {
    if store.client_side().is_some() {
        return;
    }
    let user = format!("u-{}", SessionId::generate());
    if !store.capabilities().user_index {
        assert_unsupported(store.list_for_user(&user).await);
        assert_unsupported(store.delete_for_user(&user, None).await);
        return;
    }
    let a = record(&clock, Some(&user));
    let b = record(&clock, Some(&user));
    let other = record(&clock, Some("someone-else"));
    let anonymous = record(&clock, None);
    for r in [&a, &b, &other, &anonymous] {
        create(&store, r).await;
    }
    let listed: HashSet<_> = store
        .list_for_user(&user)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(listed, HashSet::from([a.id, b.id]));
    let info = &store.list_for_user(&user).await.unwrap()[0];
    assert_eq!(info.user_id.as_deref(), Some(user.as_str()));
    assert_eq!(info.label.as_deref(), Some("laptop"));
}

/// Most recently used first; ties by newer creation, then by id.
pub async fn list_for_user_orders_most_recent_first(store: impl SessionStore, clock: MockClock) {
    if store.client_side().is_some() {
        return;
    }
    if !store.capabilities().user_index {
        return;
    }
    let user = format!("u-{}", SessionId::generate());
    let old = record(&clock, Some(&user));
    create(&store, &old).await;
    clock.advance(Duration::from_secs(10));
    let mut tie_a = record(&clock, Some(&user));
    let mut tie_b = record(&clock, Some(&user));
    if tie_b.id < tie_a.id {
        std::mem::swap(&mut tie_a, &mut tie_b);
    }
    create(&store, &tie_b).await;
    create(&store, &tie_a).await;
    clock.advance(Duration::from_secs(10));
    // Using the oldest session makes it the most recent.
    let mut p = patch(&clock);
    p.set_fields = fields(&[("count", "2")]);
    store.save(&old.id, &p).await.unwrap();
    let order = listed_ids(&store, &user).await;
    assert_eq!(order, vec![old.id, tie_a.id, tie_b.id]);
}

/// A save that changes nothing (a request recording its use) moves
/// `last_seen` alone: no revision, no expiry, and the user's listing follows.
pub async fn an_empty_save_moves_only_last_seen(store: impl SessionStore, clock: MockClock) {
    if store.client_side().is_some() {
        return;
    }
    let user = format!("u-{}", SessionId::generate());
    let used = record(&clock, Some(&user));
    create(&store, &used).await;
    clock.advance(Duration::from_secs(10));
    let other = record(&clock, Some(&user));
    create(&store, &other).await;
    clock.advance(Duration::from_secs(10));
    assert_eq!(
        store.save(&used.id, &patch(&clock)).await.unwrap(),
        SaveOutcome::Saved
    );
    let back = load(&store, &used.id).await.unwrap();
    assert_eq!(back.last_seen, clock.now());
    assert_eq!(
        (back.revision, back.expires_at, &back.fields),
        (used.revision, used.expires_at, &used.fields)
    );
    if store.capabilities().user_index {
        let order = listed_ids(&store, &user).await;
        assert_eq!(order, vec![used.id, other.id]);
    }
}

/// Expired sessions drop out of the user listing.
pub async fn list_for_user_skips_expired_sessions(store: impl SessionStore, clock: MockClock) {
    if store.client_side().is_some() {
        return;
    }
    if !store.capabilities().user_index {
        return;
    }
    let user = format!("u-{}", SessionId::generate());
    let short = record(&clock, Some(&user));
    create(&store, &short).await;
    let mut long = record(&clock, Some(&user));
    long.expires_at = clock.now().plus(HOUR * 2);
    create(&store, &long).await;
    clock.advance(HOUR);
    let listed = listed_ids(&store, &user).await;
    assert_eq!(listed, vec![long.id]);
}

/// Revoke-all keeps the named session and deletes the rest of that user's.
pub async fn delete_for_user_keeps_the_given_session(store: impl SessionStore, clock: MockClock) {
    if store.client_side().is_some() {
        return;
    }
    if !store.capabilities().user_index {
        return;
    }
    let user = format!("u-{}", SessionId::generate());
    let keep = record(&clock, Some(&user));
    let drop1 = record(&clock, Some(&user));
    let drop2 = record(&clock, Some(&user));
    let other = record(&clock, Some("other-user"));
    for r in [&keep, &drop1, &drop2, &other] {
        create(&store, r).await;
    }
    assert_eq!(
        store.delete_for_user(&user, Some(&keep.id)).await.unwrap(),
        2
    );
    assert!(load(&store, &keep.id).await.is_some());
    assert_eq!(load(&store, &drop1.id).await, None);
    assert_eq!(load(&store, &drop2.id).await, None);
    assert!(
        load(&store, &other.id).await.is_some(),
        "another user's session was deleted"
    );
    let listed = listed_ids(&store, &user).await;
    assert_eq!(listed, vec![keep.id]);
}

/// Revoke-all without a keeper empties the user's listing.
pub async fn delete_for_user_without_keep_deletes_all(store: impl SessionStore, clock: MockClock) {
    if store.client_side().is_some() {
        return;
    }
    if !store.capabilities().user_index {
        return;
    }
    let user = format!("u-{}", SessionId::generate());
    let a = record(&clock, Some(&user));
    let b = record(&clock, Some(&user));
    create(&store, &a).await;
    create(&store, &b).await;
    assert_eq!(store.delete_for_user(&user, None).await.unwrap(), 2);
    assert!(store.list_for_user(&user).await.unwrap().is_empty());
    assert_eq!(load(&store, &a.id).await, None);
    assert_eq!(store.delete_for_user(&user, None).await.unwrap(), 0);
}

/// Revoke-all racing a login of the same user: the user's older sessions
/// are gone, and the new one is either deleted or both listed and loadable,
/// never loadable but out of revoke-all's reach, nor listed but gone.
pub async fn delete_for_user_racing_a_login_leaves_no_orphan(
    store: impl SessionStore,
    clock: MockClock,
) {
    if store.client_side().is_some() || !store.capabilities().user_index {
        return;
    }
    let store = Arc::new(store);
    for round in 0..40 {
        let user = format!("u-{}", SessionId::generate());
        let older: Vec<SessionRecord> = (0..3).map(|_| record(&clock, Some(&user))).collect();
        for r in &older {
            create(&*store, r).await;
        }
        let login = record(&clock, Some(&user));
        let (a, b, u) = (store.clone(), store.clone(), user.clone());
        let revoke = tokio::spawn(async move { a.delete_for_user(&u, None).await });
        let create = tokio::spawn({
            let login = login.clone();
            async move { b.create(&login).await }
        });
        revoke.await.unwrap().expect("delete_for_user");
        create.await.unwrap().expect("create");
        for r in &older {
            assert_eq!(load(&*store, &r.id).await, None, "round {round}");
        }
        let listed = listed_ids(&*store, &user).await.contains(&login.id);
        let loads = load(&*store, &login.id).await.is_some();
        assert_eq!(
            (listed, loads),
            (loads, loads),
            "round {round}: the new session is listed: {listed}, loads: {loads}"
        );
        if loads {
            assert_eq!(store.delete_for_user(&user, None).await.unwrap(), 1);
            assert_eq!(load(&*store, &login.id).await, None);
        }
    }
}

/// A deleted session leaves its user's listing.
pub async fn deleted_sessions_leave_the_user_listing(store: impl SessionStore, clock: MockClock) {
    if store.client_side().is_some() {
        return;
    }
    if !store.capabilities().user_index {
        return;
    }
    let user = format!("u-{}", SessionId::generate());
    let a = record(&clock, Some(&user));
    let b = record(&clock, Some(&user));
    create(&store, &a).await;
    create(&store, &b).await;
    store.delete(&a.id).await.unwrap();
    let listed = listed_ids(&store, &user).await;
    assert_eq!(listed, vec![b.id]);
}

/// Paging visits every live session, none twice on one page (a hash-scan
/// backend may repeat one on a later page; see [`SessionStore::list`]).
pub async fn list_pages_through_every_live_session_once(
    store: impl SessionStore,
    clock: MockClock,
) {
    if store.client_side().is_some() {
        return;
    }
    if !store.capabilities().listing {
        assert_unsupported(store.list(PageRequest::first(10)).await);
        return;
    }
    let mut created = HashSet::new();
    for i in 0..25 {
        let r = record(&clock, (i % 2 == 0).then_some("pager"));
        create(&store, &r).await;
        created.insert(r.id);
    }
    let expired = {
        let mut r = record(&clock, None);
        r.expires_at = clock.now().plus(Duration::from_secs(1));
        create(&store, &r).await;
        r.id
    };
    let deleted = {
        let r = record(&clock, Some("pager"));
        create(&store, &r).await;
        assert!(store.delete(&r.id).await.unwrap());
        r.id
    };
    clock.advance(Duration::from_secs(2));
    let mut seen = HashSet::new();
    let mut request = PageRequest::first(7);
    let mut pages = 0;
    loop {
        let page = store.list(request.clone()).await.unwrap();
        assert!(page.items.len() <= 7, "page larger than its limit");
        let mut on_page = HashSet::new();
        for item in &page.items {
            assert!(on_page.insert(item.id), "session listed twice on one page");
            seen.insert(item.id);
        }
        pages += 1;
        assert!(pages < 100, "paging does not end");
        match page.next {
            Some(next) => request.cursor = Some(next),
            None => break,
        }
    }
    assert!(!seen.contains(&expired), "expired session listed");
    assert!(!seen.contains(&deleted), "deleted session listed");
    // The store may hold sessions of other tests (shared backends): ours must all be there.
    assert!(created.is_subset(&seen), "a live session was not listed");
}

/// Listing an empty store gives an empty last page.
pub async fn list_of_empty_store_is_empty(store: impl SessionStore, _clock: MockClock) {
    if store.client_side().is_some() {
        return;
    }
    if !store.capabilities().listing {
        return;
    }
    let page = store.list(PageRequest::first(10)).await.unwrap();
    if page.items.is_empty() {
        assert_eq!(page.next, None);
    }
}

/// A page cursor the store never handed out is refused as such, not taken
/// for damaged stored data nor for the first page.
pub async fn a_page_cursor_not_handed_out_is_refused(store: impl SessionStore, _clock: MockClock) {
    if store.client_side().is_some() || !store.capabilities().listing {
        return;
    }
    for cursor in ["", "not a cursor", "9|x|y", "\u{0}"] {
        let request = PageRequest {
            cursor: Some(cursor.to_owned()),
            limit: 10,
        };
        let result = store.list(request).await;
        assert!(
            matches!(result, Err(StoreError::InvalidCursor(ref c)) if c == cursor),
            "cursor {cursor:?}: {result:?}"
        );
    }
}

/// A page limit of any size is served (capped as the store likes), never
/// taken as a capacity to allocate.
pub async fn a_huge_page_limit_is_served(store: impl SessionStore, clock: MockClock) {
    if store.client_side().is_some() || !store.capabilities().listing {
        return;
    }
    let r = SessionRecord::new(SessionId::generate(), clock.now(), clock.now().plus(HOUR));
    create(&store, &r).await;
    let page = store.list(PageRequest::first(usize::MAX)).await.unwrap();
    assert!(!page.items.is_empty());
}

/// Every listed session loads. (The store may hold other tests' sessions
/// on a shared backend, so the page is not expected to hold only ours.)
pub async fn listed_sessions_all_load(store: impl SessionStore, clock: MockClock) {
    if store.client_side().is_some() {
        return;
    }
    if !store.capabilities().listing {
        return;
    }
    create(&store, &record(&clock, None)).await;
    let page = store.list(PageRequest::first(10)).await.unwrap();
    assert!(!page.items.is_empty(), "a live session, and nothing listed");
    for item in &page.items {
        assert!(
            store.load(&item.id).await.unwrap().is_some(),
            "listed, but does not load"
        );
    }
}

/// Nested JSON meta round-trips through create, load and listing.
pub async fn meta_round_trips_nested_json(store: impl SessionStore, clock: MockClock) {
    if store.client_side().is_some() {
        return;
    }
    let user = format!("u-{}", SessionId::generate());
    let meta =
        serde_json::json!({"device": {"os": "linux", "tags": [1, "two", null]}, "ip": "127.0.0.1"});
    let mut r = record(&clock, None);
    r.binding = Some(Box::new(
        Binding::user(&user)
            .with_meta(meta.clone())
            .with_permissions(["admin"]),
    ));
    create(&store, &r).await;
    let back = load(&store, &r.id).await.unwrap();
    let binding = back.binding.expect("binding");
    assert_eq!(binding.meta, Some(meta.clone()));
    assert_eq!(binding.permissions, vec!["admin".to_owned()]);
    if store.capabilities().user_index {
        let listed = store.list_for_user(&user).await.unwrap();
        assert_eq!(listed[0].meta, Some(meta));
    }
    // JSON `null` as meta is a value too, not the absence of one.
    let mut null = record(&clock, None);
    null.binding = Some(Box::new(
        Binding::user(&user).with_meta(serde_json::Value::Null),
    ));
    create(&store, &null).await;
    let back = load(&store, &null.id).await.unwrap();
    assert_eq!(back.binding, null.binding, "null meta read back as no meta");
}

/// A user id, label, field and flash names and values made of what an
/// encoding is most likely to trip on: separators and braces (key hash tags),
/// the store's own reserved names, quotes, escapes and control characters,
/// non-ASCII text, an empty name, and lengths past one- and two-byte length
/// prefixes.
fn awkward_record(clock: &MockClock) -> SessionRecord {
    let mut r = record(clock, None);
    let user = format!("\u{fc}{{se}}r:*?[x] \"q\"\\\n\t-{}", SessionId::generate());
    r.binding = Some(Box::new(
        Binding::user(user)
            .with_label("l\u{e4}ptop {1} \u{1f600}")
            .with_meta(serde_json::json!({"k\u{fc}": "\u{0}\u{1f}\"", "": [null]}))
            .with_cookie_lifetime(crate::CookieLifetime::BrowserSession)
            .with_lifetime(std::time::Duration::from_millis(86_400_001))
            .with_absolute(std::time::Duration::from_millis(7 * 86_400_003)),
    ));
    let long_name = "n".repeat(200);
    let long_value = format!("\"{}\"", "v".repeat(20_000));
    r.fields = [
        ("", "0"),
        ("_m", "\"meta?\""),
        ("f:count", "1"),
        ("l:flash", "2"),
        ("{tag}", "\"}{\""),
        ("a:b*?[]", "\"x:y\""),
        ("\u{fc}n\u{ef} c\u{f8}de \u{1f600}", "\"\u{df}\\\"\\u0000\""),
        ("ctl\n\t\r", "\"\\r\\n\""),
        (long_name.as_str(), long_value.as_str()),
        // Text a JSON value type would change: past 64 bits, keys out of
        // order, numbers in a longer form.
        ("wide", "340282366920938463463374607431768211455"),
        ("struct", "{\"z\":1,\"a\":[2.50,1e3,-0]}"),
    ]
    .into_iter()
    .collect();
    r.flash = fields(&[
        ("", "null"),
        ("_b", "\"\u{e9}\""),
        ("f:{1}", "[1,\"}\"]"),
        ("o", "{\"z\":1e3,\"a\":null}"),
    ]);
    r
}

/// Awkward names and values (see `awkward_record`) read back unchanged after
/// create and after save, and the user listing finds the session by its
/// awkward user id.
pub async fn awkward_names_and_values_round_trip(store: impl SessionStore, clock: MockClock) {
    if store.client_side().is_some() {
        return;
    }
    let mut r = awkward_record(&clock);
    create(&store, &r).await;
    let back = load(&store, &r.id).await.expect("created record loads");
    assert_eq!(back.fields, r.fields);
    assert_eq!(back.flash, r.flash);
    assert_eq!(back.binding, r.binding);
    let user = r.user_id().expect("bound").to_owned();
    if store.capabilities().user_index {
        let listed = store.list_for_user(&user).await.unwrap();
        assert_eq!(listed.iter().map(|i| i.id).collect::<Vec<_>>(), [r.id]);
        assert_eq!(listed[0].user_id.as_deref(), Some(user.as_str()));
        let bound = r.binding.as_deref().expect("bound");
        assert_eq!(listed[0].cookie_lifetime, bound.cookie_lifetime);
        assert_eq!(listed[0].lifetime, bound.lifetime);
        assert_eq!(listed[0].absolute, bound.absolute);
    }
    let mut p = patch(&clock);
    p.set_fields = fields(&[
        ("", "\"\u{1f600}\""),
        ("_m", "{\"_m\":1}"),
        ("new }{ \u{2603}", "[\"\\u0000\"]"),
    ]);
    p.removed_fields = vec!["f:count".into(), "a:b*?[]".into(), "missing".into()];
    p.set_flash = fields(&[("l:flash", "true")]);
    p.taken_flash = fields(&[("_b", "\"\u{e9}\""), ("o", "{}")]);
    assert_eq!(store.save(&r.id, &p).await.unwrap(), SaveOutcome::Saved);
    r.apply(&p);
    let back = load(&store, &r.id).await.expect("saved record loads");
    assert_eq!(back.fields, r.fields);
    assert_eq!(back.flash, r.flash);
    assert_eq!(back.binding, r.binding);
    if store.capabilities().user_index {
        assert_eq!(store.delete_for_user(&user, None).await.unwrap(), 1);
        assert_eq!(load(&store, &r.id).await, None);
    }
}

/// Client-side stores: the awkward record (see `awkward_record`) opens back
/// whole.
pub async fn client_side_round_trips_awkward_names_and_values(
    store: impl SessionStore,
    clock: MockClock,
) {
    let Some(client) = store.client_side() else {
        return;
    };
    let mut r = awkward_record(&clock);
    // Within a cookie's size.
    r.fields.remove(&"n".repeat(200));
    let token = client.seal(&signer(&[1], "sid"), &r).expect("seal");
    assert_eq!(
        client
            .open(&signer(&[1], "sid"), &token)
            .expect("open")
            .value,
        r
    );
}

fn signer(keys: &[u8], context: &str) -> TokenSigner {
    TokenSigner::new(
        SigningKeys::new(
            keys.iter()
                .map(|&n| Key::new([n; 32]).expect("32-byte key")),
        )
        .expect("keys"),
        context,
    )
}

/// Client-side stores: a sealed record opens back whole.
pub async fn client_side_round_trips_a_record(store: impl SessionStore, clock: MockClock) {
    let Some(client) = store.client_side() else {
        return;
    };
    let mut r = record(&clock, Some("u1"));
    r.flash = fields(&[("error", "\"Invalid email/password\"")]);
    let token = client.seal(&signer(&[1], "sid"), &r).expect("seal");
    let opened = client.open(&signer(&[1], "sid"), &token).expect("open");
    assert_eq!(opened.value, r);
    assert_eq!(opened.key_index, 0);
}

/// Client-side stores: any change to the token, or a truncation, is refused.
pub async fn client_side_refuses_tampered_and_truncated_tokens(
    store: impl SessionStore,
    clock: MockClock,
) {
    let Some(client) = store.client_side() else {
        return;
    };
    let s = signer(&[1], "sid");
    let token = client.seal(&s, &record(&clock, None)).expect("seal");
    for i in (0..token.len()).step_by(7) {
        let mut bytes = token.clone().into_bytes();
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).expect("ascii");
        assert!(
            client.open(&s, &tampered).is_err(),
            "tampered at {i} accepted"
        );
    }
    for cut in [1, token.len() / 2, token.len() - 1] {
        assert!(
            client.open(&s, &token[..cut]).is_err(),
            "truncated to {cut} accepted"
        );
    }
    for garbage in ["", "garbage", "a.b.c", "%%%"] {
        assert!(client.open(&s, garbage).is_err(), "{garbage:?} accepted");
    }
}

/// Client-side stores: a token sealed for one cookie name does not open for another.
pub async fn client_side_binds_the_cookie_name(store: impl SessionStore, clock: MockClock) {
    let Some(client) = store.client_side() else {
        return;
    };
    let token = client
        .seal(&signer(&[1], "sid"), &record(&clock, None))
        .expect("seal");
    assert!(client.open(&signer(&[1], "other"), &token).is_err());
    assert!(client.open(&signer(&[2], "sid"), &token).is_err());
}

/// Client-side stores: older keys open and are reported, so the cookie is re-issued.
pub async fn client_side_opens_older_keys_and_reports_them(
    store: impl SessionStore,
    clock: MockClock,
) {
    let Some(client) = store.client_side() else {
        return;
    };
    let token = client
        .seal(&signer(&[2], "sid"), &record(&clock, None))
        .expect("seal");
    let opened = client
        .open(&signer(&[1, 2], "sid"), &token)
        .expect("open with the old key");
    assert_eq!(opened.key_index, 1);
}

/// Client-side stores: a session too big for a cookie is refused, naming its size.
pub async fn client_side_refuses_oversized_sessions(store: impl SessionStore, clock: MockClock) {
    let Some(client) = store.client_side() else {
        return;
    };
    let declared = store
        .capabilities()
        .max_record_bytes
        .expect("a cookie has a size limit");
    let mut r = record(&clock, None);
    let big = format!("\"{}\"", "x".repeat(declared));
    r.fields = fields(&[("big", &big)]);
    match client.seal(&signer(&[1], "sid"), &r) {
        Err(StoreError::TooLarge { size, limit }) => {
            assert_eq!(limit, declared, "the error names another limit");
            assert!(size > limit, "size {size} limit {limit}");
            assert!(
                StoreError::TooLarge { size, limit }
                    .to_string()
                    .contains(&size.to_string())
            );
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
}

/// Client-side stores keep nothing server-side: no listing, no revocation;
/// deleting is a no-op (logout clears the cookie).
pub async fn client_side_has_no_server_state(store: impl SessionStore, _clock: MockClock) {
    if store.client_side().is_none() {
        return;
    }
    assert_unsupported(store.list_for_user("u").await);
    assert_unsupported(store.delete_for_user("u", None).await);
    assert_unsupported(store.list(PageRequest::first(10)).await);
    assert_eq!(
        store.load(&SessionId::generate()).await.expect("load"),
        None
    );
    assert!(!store.delete(&SessionId::generate()).await.expect("delete"));
}

/// `rebind` changes a live login's binding in place (its permissions,
/// label, meta): the data, flash, expiry, revision and the user's listing
/// stay. A missing, expired or anonymous session and another user's are
/// not rebound, and nothing is written to them. Stores that do not declare
/// [`Capabilities::rebind`](crate::Capabilities::rebind) fail with
/// `Unsupported`.
pub async fn rebind_changes_a_live_logins_binding_in_place(
    store: impl SessionStore,
    clock: MockClock,
) {
    if store.client_side().is_some() {
        return;
    }
    let user = format!("u-{}", SessionId::generate());
    let promoted = Binding::user(&user)
        .with_label("laptop")
        .with_permissions(["admin", "billing"])
        .with_meta(serde_json::json!({ "ip": "10.0.0.1" }));
    let mut r = record(&clock, Some(&user));
    r.flash = fields(&[("notice", "\"hi\"")]);
    if !store.capabilities().rebind {
        create(&store, &r).await;
        assert_unsupported(store.rebind(&r.id, &promoted).await);
        return;
    }
    create(&store, &r).await;
    let mut p = patch(&clock);
    p.set_fields = fields(&[("count", "2")]);
    assert_eq!(store.save(&r.id, &p).await.unwrap(), SaveOutcome::Saved);
    let before = load(&store, &r.id).await.expect("created record loads");

    clock.advance(Duration::from_secs(5));
    let rebound = store.rebind(&r.id, &promoted).await;
    assert!(
        matches!(rebound, Ok(true)),
        "the store declares Capabilities::rebind, so rebind must work: {rebound:?}"
    );
    let after = load(&store, &r.id).await.expect("a rebound session loads");
    assert_eq!(after.binding.as_deref(), Some(&promoted));
    let unchanged = SessionRecord {
        binding: before.binding.clone(),
        ..after.clone()
    };
    assert_eq!(unchanged, before, "rebind changed more than the binding");
    if store.capabilities().user_index {
        assert_eq!(listed_ids(&store, &user).await, [r.id]);
    }
    // Back again: permissions can be taken away too.
    let demoted = Binding::user(&user).with_label("laptop");
    assert!(store.rebind(&r.id, &demoted).await.unwrap());
    assert_eq!(
        load(&store, &r.id).await.unwrap().binding.as_deref(),
        Some(&demoted)
    );

    // Not rebound, nothing written.
    let other = Binding::user("someone-else").with_permissions(["admin"]);
    assert!(!store.rebind(&r.id, &other).await.unwrap(), "another user");
    let anonymous = record(&clock, None);
    create(&store, &anonymous).await;
    assert!(
        !store.rebind(&anonymous.id, &promoted).await.unwrap(),
        "an anonymous session"
    );
    assert_eq!(load(&store, &anonymous.id).await, Some(anonymous));
    assert!(
        !store
            .rebind(&SessionId::generate(), &promoted)
            .await
            .unwrap(),
        "a missing session"
    );
    let short = {
        let mut s = record(&clock, Some(&user));
        s.expires_at = clock.now().plus(Duration::from_secs(10));
        s
    };
    create(&store, &short).await;
    clock.advance(Duration::from_secs(11));
    assert!(
        !store.rebind(&short.id, &promoted).await.unwrap(),
        "an expired session"
    );
    assert_eq!(load(&store, &short.id).await, None, "rebind revived it");
    assert_eq!(
        load(&store, &r.id).await.unwrap().binding.as_deref(),
        Some(&demoted),
        "a refused rebind wrote"
    );
}

/// A binding `rebind` would take over the declared size limit is refused
/// with `TooLarge`, nothing written. Stores that declare no limit, or no
/// `rebind`, skip this case.
pub async fn rebind_counts_the_binding_toward_the_size_limit(
    store: impl SessionStore,
    clock: MockClock,
) {
    let Some(limit) = server_side_limit(&store) else {
        return;
    };
    if !store.capabilities().rebind {
        return;
    }
    let user = format!("u-{}", SessionId::generate());
    let r = record(&clock, Some(&user));
    create(&store, &r).await;
    let before = load(&store, &r.id).await.expect("created record loads");
    let big = Binding::user(&user).with_permissions(["x".repeat(limit)]);
    assert_too_large(
        store.rebind(&r.id, &big).await.map(|_| ()),
        limit,
        "a binding over the limit",
    );
    assert_eq!(
        load(&store, &r.id).await,
        Some(before),
        "a refused rebind wrote"
    );
}
