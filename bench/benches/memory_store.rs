//! `MemoryStore` through the `SessionStore` API: load, save, touch, create,
//! in a store already holding 100,000 sessions; and revoking all sessions of
//! a user who has many.

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use session_core::{Binding, Clock, MemoryStore, SessionId, SessionStore, SystemClock};

use common::{count_patch, counter_record, ready};

const POPULATION: usize = 100_000;

fn memory_store(c: &mut Criterion) {
    let store = MemoryStore::new();
    let ids: Vec<SessionId> = (0..POPULATION)
        .map(|i| {
            let record = counter_record(i as u64);
            ready(store.create(&record)).unwrap();
            record.id
        })
        .collect();
    let mut group = c.benchmark_group("memory_store");
    let mut i = 0usize;
    let mut next_id = || {
        i = (i + 7919) % POPULATION;
        ids[i]
    };

    group.bench_function("load", |b| {
        b.iter(|| ready(store.load(black_box(&next_id()))).unwrap())
    });
    group.bench_function("load_missing", |b| {
        let missing = SessionId::generate();
        b.iter(|| ready(store.load(black_box(&missing))).unwrap())
    });
    // Patch and times are built outside the timed part: only the store's work is measured.
    let mut count = 0u64;
    group.bench_function("save_one_field", |b| {
        b.iter_batched(
            || {
                count += 1;
                count_patch(count)
            },
            // Returned so that its drop is not timed either.
            |patch| (ready(store.save(&next_id(), &patch)).unwrap(), patch),
            BatchSize::SmallInput,
        )
    });
    let t = SystemClock.now();
    let expires_at = t.plus(Duration::from_secs(3600));
    group.bench_function("touch", |b| {
        b.iter(|| ready(store.touch(&next_id(), expires_at, t, None)).unwrap())
    });
    group.bench_function("create", |b| {
        b.iter_batched(
            || counter_record(1),
            |record| ready(store.create(&record)).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// `delete_for_user` of one user's n sessions (creating them is not timed):
/// the per-user index must keep this linear in n.
fn revoke_all(c: &mut Criterion) {
    let mut group = c.benchmark_group("memory_store_revoke_all");
    group.sample_size(10);
    for n in [1_000usize, 10_000] {
        group.bench_function(format!("{n}"), |b| {
            b.iter_batched(
                || {
                    let store = MemoryStore::new();
                    for i in 0..n {
                        let mut record = counter_record(i as u64);
                        record.binding = Some(Box::new(Binding::user("ada")));
                        ready(store.create(&record)).unwrap();
                    }
                    store
                },
                // Returned so that dropping the store is not timed.
                |store| (ready(store.delete_for_user("ada", None)).unwrap(), store),
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, memory_store, revoke_all);
criterion_main!(benches);
