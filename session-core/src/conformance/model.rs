//! A model-based case: random sequences of store operations, each checked
//! against a plain map of records that applies the contract by the book.
//!
//! The fixed cases pin single behaviours; this one looks for the
//! combinations they miss (an id deleted and created again for another user,
//! a patch after a touch after an expiry, a revoke-all that keeps one
//! session). Seeds are fixed, so a failure repeats; its message names the
//! seed and the operations that led to it.

use std::collections::HashMap;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::clock::Clock as _;
use crate::record::sort_most_recent_first;
use crate::{
    Binding, FieldMap, MockClock, PageRequest, SaveOutcome, SessionId, SessionInfo, SessionPatch,
    SessionRecord, SessionStore, StoreError, Timestamp,
};

/// Seeds of the runs; each run is [`STEPS`] operations on a fresh set of ids.
const SEEDS: [u64; 4] = [1, 2, 3, 0x5e55_1015];
const STEPS: usize = 250;
/// Few ids, so operations keep meeting the same sessions.
const IDS: usize = 6;
const FIELD_NAMES: [&str; 5] = ["count", "name", "a:b*?[]", "", "new }{ \u{2603}"];
const VALUES: [&str; 5] = ["1", "\"ada\"", "[1,2]", "{\"_m\":null}", "\"\u{1f600}\""];
const MINUTE: Duration = Duration::from_secs(60);

/// Random creates, loads, saves (with and without an expected revision),
/// touches, deletes, user listings, revoke-alls and listings, with the clock
/// moving between them so sessions expire along the way: every answer and
/// every loaded record matches a model of the contract.
pub async fn random_operations_match_a_model(store: impl SessionStore, clock: MockClock) {
    if store.client_side().is_some() {
        return;
    }
    for seed in SEEDS {
        Run::new(&store, &clock, seed).go().await;
    }
}

struct Run<'s, S> {
    store: &'s S,
    clock: &'s MockClock,
    rng: StdRng,
    seed: u64,
    ids: Vec<SessionId>,
    /// Users unique to this run: the backend may be shared with other tests.
    users: [String; 2],
    /// What the store holds, expired records included until they are deleted.
    model: HashMap<SessionId, SessionRecord>,
    log: Vec<String>,
}

impl<'s, S: SessionStore> Run<'s, S> {
    fn new(store: &'s S, clock: &'s MockClock, seed: u64) -> Self {
        let run = SessionId::generate().short();
        Self {
            store,
            clock,
            rng: StdRng::seed_from_u64(seed),
            seed,
            ids: (0..IDS).map(|_| SessionId::generate()).collect(),
            users: [format!("model-a-{run}"), format!("model-b-{run}")],
            model: HashMap::new(),
            log: Vec::new(),
        }
    }

    async fn go(mut self) {
        let caps = self.store.capabilities();
        for _ in 0..STEPS {
            match self.rng.random_range(0..100) {
                0..25 => self.create().await,
                25..33 => self.load().await,
                33..60 => self.save(caps.compare_and_set).await,
                60..68 => self.touch().await,
                68..73 => self.delete().await,
                73..81 => self.advance(),
                81..90 if caps.user_index => self.list_for_user().await,
                90..95 if caps.user_index => self.delete_for_user().await,
                95..100 if caps.listing => self.list().await,
                _ => self.load().await,
            }
        }
        // Everything the model holds reads back at the end.
        for i in 0..IDS {
            let id = self.ids[i];
            self.check_load(id, "final load").await;
        }
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    fn live(&self, id: &SessionId) -> Option<&SessionRecord> {
        let now = self.now();
        self.model.get(id).filter(|r| !r.is_expired(now))
    }

    fn pick_id(&mut self) -> SessionId {
        self.ids[self.rng.random_range(0..IDS)]
    }

    fn pick_user(&mut self) -> String {
        self.users[self.rng.random_range(0..2)].clone()
    }

    fn later(&mut self) -> Timestamp {
        self.now().plus(MINUTE * self.rng.random_range(1..240))
    }

    fn fields(&mut self, most: usize) -> FieldMap {
        let n = self.rng.random_range(0..=most);
        (0..n)
            .map(|_| {
                let name = FIELD_NAMES[self.rng.random_range(0..FIELD_NAMES.len())];
                let value = VALUES[self.rng.random_range(0..VALUES.len())];
                (name, value)
            })
            .collect()
    }

    /// Names to remove, none of them among `set` (the contract leaves a name
    /// both set and removed in one patch undefined).
    fn removals(&mut self, set: &FieldMap) -> Vec<Box<str>> {
        let n = self.rng.random_range(0..=2);
        let mut names: Vec<Box<str>> = Vec::new();
        for _ in 0..n {
            let name = FIELD_NAMES[self.rng.random_range(0..FIELD_NAMES.len())];
            if !set.contains(name) && !names.iter().any(|n| &**n == name) {
                names.push(name.into());
            }
        }
        names
    }

    /// Flash taken, none of it among `set`: each with its stored value or,
    /// as if set again since it was read, another.
    fn taken(&mut self, id: &SessionId, set: &FieldMap) -> FieldMap {
        let names = self.removals(set);
        let stored = self.live(id).map(|r| r.flash.clone()).unwrap_or_default();
        names
            .iter()
            .map(|name| {
                let value = match stored.get(name) {
                    Some(v) if self.rng.random_bool(0.7) => v,
                    _ => VALUES[self.rng.random_range(0..VALUES.len())],
                };
                (&**name, value.to_owned())
            })
            .collect()
    }

    fn fail(&self, what: std::fmt::Arguments<'_>) -> ! {
        let start = self.log.len().saturating_sub(25);
        panic!(
            "{what}\nseed {} of the model case; the last operations:\n  {}",
            self.seed,
            self.log[start..].join("\n  ")
        );
    }

    async fn create(&mut self) {
        let id = self.pick_id();
        let now = self.now();
        let mut record = SessionRecord::new(id, now, self.later());
        record.fields = self.fields(3);
        record.flash = self.fields(1);
        if self.rng.random_bool(0.6) {
            let mut binding = Binding::user(self.pick_user());
            if self.rng.random_bool(0.5) {
                binding = binding.with_label(format!("device {}", self.log.len()));
            }
            if self.rng.random_bool(0.3) {
                binding = binding.with_meta(serde_json::json!({"step": self.log.len()}));
            }
            record.binding = Some(Box::new(binding));
        }
        self.log.push(format!(
            "create {} user {:?} fields {:?} expires {:?}",
            id.short(),
            record.user_id(),
            record.fields,
            record.expires_at
        ));
        let answer = self.store.create(&record).await;
        match (self.live(&id).is_some(), answer) {
            (true, Err(StoreError::Collision)) => {}
            (false, Ok(())) => {
                self.model.insert(id, record);
            }
            (live, answer) => self.fail(format_args!(
                "create of a {} id answered {answer:?}",
                if live { "live" } else { "free" }
            )),
        }
        self.check_load(id, "after create").await;
    }

    async fn load(&mut self) {
        let id = self.pick_id();
        self.log.push(format!("load {}", id.short()));
        self.check_load(id, "load").await;
    }

    async fn check_load(&mut self, id: SessionId, when: &str) {
        let expected = self.live(&id).cloned();
        match self.store.load(&id).await {
            Ok(found) if found == expected => {}
            answer => self.fail(format_args!(
                "{when}: load of {} answered {answer:?}, the model holds {expected:?}",
                id.short()
            )),
        }
    }

    async fn save(&mut self, compare_and_set: bool) {
        let id = self.pick_id();
        let current = self
            .live(&id)
            .map(|r| (r.revision, r.expires_at, r.user_id().map(str::to_owned)));
        let set_fields = self.fields(2);
        let removed_fields = self.removals(&set_fields);
        let set_flash = self.fields(1);
        let taken_flash = self.taken(&id, &set_flash);
        let mut patch = SessionPatch {
            set_fields,
            removed_fields,
            set_flash,
            taken_flash,
            last_seen: self.now(),
            ..SessionPatch::default()
        };
        if self.rng.random_bool(0.3) {
            // A refresh only ever moves the expiry later.
            let later = self.later();
            patch.expires_at = Some(current.as_ref().map_or(later, |c| later.max(c.1)));
            if self.rng.random_bool(0.5) {
                patch.user_id = current.as_ref().and_then(|c| c.2.clone());
            }
        }
        if compare_and_set && self.rng.random_bool(0.4) {
            let revision = current.as_ref().map_or(0, |c| c.0);
            patch.expected_revision = Some(match self.rng.random_range(0..4) {
                0 => revision + 1,
                1 => revision.saturating_sub(1),
                _ => revision,
            });
        }
        self.log.push(format!("save {} {patch:?}", id.short()));
        let expected = match (&current, patch.expected_revision) {
            (None, _) => SaveOutcome::Missing,
            (Some((revision, ..)), Some(wanted)) if wanted != *revision => {
                SaveOutcome::Conflict { current: *revision }
            }
            (Some(_), _) => SaveOutcome::Saved,
        };
        match self.store.save(&id, &patch).await {
            Ok(answer) if answer == expected => {}
            answer => self.fail(format_args!(
                "save of {} answered {answer:?}, the model expects {expected:?}",
                id.short()
            )),
        }
        if expected == SaveOutcome::Saved
            && let Some(record) = self.model.get_mut(&id)
        {
            record.apply(&patch);
        }
        self.check_load(id, "after save").await;
    }

    async fn touch(&mut self) {
        let id = self.pick_id();
        let current = self
            .live(&id)
            .map(|r| (r.expires_at, r.user_id().map(str::to_owned)));
        let later = self.later();
        let expires_at = current.as_ref().map_or(later, |c| later.max(c.0));
        let user = current
            .and_then(|c| c.1)
            .filter(|_| self.rng.random_bool(0.5));
        let now = self.now();
        self.log.push(format!(
            "touch {} to {expires_at:?} naming {user:?}",
            id.short()
        ));
        let expected = match self.model.get_mut(&id).filter(|r| !r.is_expired(now)) {
            Some(record) => {
                record.expires_at = expires_at;
                record.last_seen = record.last_seen.max(now);
                SaveOutcome::Saved
            }
            None => SaveOutcome::Missing,
        };
        match self
            .store
            .touch(&id, expires_at, now, user.as_deref())
            .await
        {
            Ok(answer) if answer == expected => {}
            answer => self.fail(format_args!(
                "touch of {} answered {answer:?}, the model expects {expected:?}",
                id.short()
            )),
        }
        self.check_load(id, "after touch").await;
    }

    async fn delete(&mut self) {
        let id = self.pick_id();
        self.log.push(format!("delete {}", id.short()));
        let live = self.live(&id).is_some();
        let held = self.model.remove(&id).is_some();
        match self.store.delete(&id).await {
            // An expired record the store still held may count either way.
            Ok(deleted) if deleted == live || (held && !live) => {}
            answer => self.fail(format_args!(
                "delete of {} answered {answer:?}; live in the model: {live}",
                id.short()
            )),
        }
        self.check_load(id, "after delete").await;
    }

    fn advance(&mut self) {
        let by = Duration::from_millis(self.rng.random_range(1..20 * 60_000));
        self.log.push(format!("advance the clock by {by:?}"));
        self.clock.advance(by);
    }

    /// The model's live sessions of `user`, most recently used first.
    fn user_listing(&self, user: &str) -> Vec<SessionInfo> {
        let now = self.now();
        let mut items: Vec<_> = self
            .model
            .values()
            .filter(|r| !r.is_expired(now) && r.user_id() == Some(user))
            .map(SessionRecord::info)
            .collect();
        sort_most_recent_first(&mut items);
        items
    }

    async fn list_for_user(&mut self) {
        let user = self.pick_user();
        self.log.push(format!("list_for_user {user}"));
        self.check_user_listing(&user, "list_for_user").await;
    }

    async fn check_user_listing(&mut self, user: &str, when: &str) {
        let expected = self.user_listing(user);
        match self.store.list_for_user(user).await {
            Ok(listed) if listed == expected => {}
            answer => self.fail(format_args!(
                "{when}: the listing of {user} is {answer:?}, the model expects {expected:?}"
            )),
        }
    }

    async fn delete_for_user(&mut self) {
        let user = self.pick_user();
        let keep = self.rng.random_bool(0.5).then(|| self.pick_id());
        self.log.push(format!(
            "delete_for_user {user} keeping {:?}",
            keep.map(|k| k.short())
        ));
        let now = self.now();
        let doomed: Vec<(SessionId, bool)> = self
            .model
            .values()
            .filter(|r| r.user_id() == Some(user.as_str()) && Some(r.id) != keep)
            .map(|r| (r.id, !r.is_expired(now)))
            .collect();
        let live = doomed.iter().filter(|(_, live)| *live).count();
        for (id, _) in &doomed {
            self.model.remove(id);
        }
        match self.store.delete_for_user(&user, keep.as_ref()).await {
            // Expired records the store still held may be counted.
            Ok(n) if (live..=doomed.len()).contains(&n) => {}
            answer => self.fail(format_args!(
                "delete_for_user({user}) answered {answer:?}; the model deleted {live} live of {}",
                doomed.len()
            )),
        }
        self.check_user_listing(&user, "after delete_for_user")
            .await;
        for (id, _) in doomed {
            self.check_load(id, "after delete_for_user").await;
        }
    }

    async fn list(&mut self) {
        self.log.push("list".into());
        let mut request = PageRequest::first(self.rng.random_range(1..5));
        let mut seen = Vec::new();
        for _ in 0..10_000 {
            let page = match self.store.list(request.clone()).await {
                Ok(page) => page,
                Err(error) => self.fail(format_args!("list failed: {error}")),
            };
            // The backend may hold other tests' sessions: only ours count.
            seen.extend(page.items.into_iter().filter(|i| self.ids.contains(&i.id)));
            match page.next {
                Some(next) => request.cursor = Some(next),
                None => break,
            }
        }
        seen.sort_by_key(|i| i.id);
        // A hash-scan backend may list a session again on a later page.
        seen.dedup_by_key(|i| i.id);
        let mut expected: Vec<_> = self
            .ids
            .iter()
            .filter_map(|id| self.live(id))
            .map(SessionRecord::info)
            .collect();
        expected.sort_by_key(|i| i.id);
        if seen != expected {
            self.fail(format_args!(
                "list gave {seen:?}, the model expects {expected:?}"
            ));
        }
    }
}
