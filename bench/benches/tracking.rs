//! Change tracking and patch building: the per-request work of session-core
//! without HTTP and without a real store. The store here answers at once
//! (`load` clones a canned record, `save`/`touch` do nothing), so the numbers
//! are the service's own cost: token verify, decode, tracking, commit, plan.

mod common;

use std::hint::black_box;

use async_trait::async_trait;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use session_core::{
    Capabilities, SaveOutcome, Session, SessionId, SessionPatch, SessionRecord, SessionService,
    SessionStore, StoreError, Timestamp,
};

use common::{Counter, counter_record, key, ready};

/// Returns one canned record for every id; writes go nowhere.
#[derive(Debug)]
struct CannedStore {
    record: SessionRecord,
}

#[async_trait]
impl SessionStore for CannedStore {
    fn name(&self) -> &'static str {
        "canned"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }
    async fn create(&self, _record: &SessionRecord) -> Result<(), StoreError> {
        Ok(())
    }
    async fn load(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        let mut record = self.record.clone();
        record.id = *id;
        Ok(Some(record))
    }
    async fn save(
        &self,
        _id: &SessionId,
        _patch: &SessionPatch,
    ) -> Result<SaveOutcome, StoreError> {
        Ok(SaveOutcome::Saved)
    }
    async fn touch(
        &self,
        _id: &SessionId,
        _expires_at: Timestamp,
        _last_seen: Timestamp,
        _user_id: Option<&str>,
    ) -> Result<SaveOutcome, StoreError> {
        Ok(SaveOutcome::Saved)
    }
    async fn delete(&self, _id: &SessionId) -> Result<bool, StoreError> {
        Ok(true)
    }
}

fn service() -> (SessionService, String) {
    // Last seen after creation and far from expiry: no refresh is due, so a
    // read writes nothing and a write saves only the field.
    let mut record = counter_record(41);
    record.last_seen = record.created_at.plus(std::time::Duration::from_secs(1));
    let service = SessionService::builder()
        .store(CannedStore { record })
        .key(key(1))
        .token_context("id")
        .build()
        .expect("service builds");
    let token = service.token_for(&SessionId::generate());
    (service, token)
}

fn loaded(service: &SessionService, token: &str) -> Session<Counter> {
    ready(service.get::<Counter>(Some(token))).expect("loads")
}

fn tracking(c: &mut Criterion) {
    let (service, token) = service();
    let mut group = c.benchmark_group("tracking");

    group.bench_function("load_and_decode", |b| {
        b.iter(|| loaded(&service, black_box(&token)))
    });
    // Step 0 sets the loaded value again: commit finds no change.
    for (name, step) in [
        ("set_field_changed_commit", 1),
        ("set_field_unchanged_commit", 0),
    ] {
        group.bench_function(name, |b| {
            b.iter_batched(
                || loaded(&service, &token),
                |mut session| {
                    let next = session.count + step;
                    session.set_count(next);
                    session.commit().unwrap();
                    session
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.bench_function("update_whole_value_commit", |b| {
        b.iter_batched(
            || loaded(&service, &token),
            |mut session| {
                session.update(|c| c.count += 1);
                session.commit().unwrap();
                session
            },
            BatchSize::SmallInput,
        )
    });
    // By reference: dropping the session commits it, which is not timed here.
    group.bench_function("changed_fields", |b| {
        b.iter_batched_ref(
            || {
                let mut session = loaded(&service, &token);
                let next = session.count + 1;
                session.set_count(next);
                session
            },
            |session| session.changed_fields().unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.finish();

    let mut group = c.benchmark_group("persist");
    group.bench_function("save_one_field_patch", |b| {
        b.iter_batched(
            || {
                let mut session = loaded(&service, &token);
                let next = session.count + 1;
                session.set_count(next);
                session.commit().unwrap();
                session
            },
            |session| {
                ready(service.persist(session.cell())).unwrap();
                session
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("unchanged", |b| {
        b.iter_batched(
            || loaded(&service, &token),
            |session| {
                ready(service.persist(session.cell())).unwrap();
                session
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();

    // Whole request cycles (session-core only: no HTTP, no store cost).
    let mut group = c.benchmark_group("cycle");
    group.bench_function("read", |b| {
        b.iter(|| {
            let session = loaded(&service, black_box(&token));
            black_box(session.count);
            ready(service.persist(session.cell())).unwrap()
        })
    });
    group.bench_function("write", |b| {
        b.iter(|| {
            let mut session = loaded(&service, black_box(&token));
            let next = session.count + 1;
            session.set_count(next);
            ready(service.commit(&mut session)).unwrap()
        })
    });
    group.bench_function("write_new", |b| {
        b.iter(|| {
            let mut session = ready(service.get::<Counter>(None)).unwrap();
            session.set_count(1);
            // Generates an id, builds the record, signs the new token.
            ready(service.commit(&mut session)).unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, tracking);
criterion_main!(benches);
