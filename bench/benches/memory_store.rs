//! `MemoryStore` through the `SessionStore` API: load, save, touch, create,
//! in a store already holding 100,000 sessions.

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use session_core::{FieldMap, MemoryStore, SessionId, SessionPatch, SessionStore};

use common::{counter_record, now, ready};

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
    let mut count = 0u64;
    group.bench_function("save_one_field", |b| {
        b.iter(|| {
            count += 1;
            let mut set_fields = FieldMap::new();
            set_fields.insert("count", count.to_string());
            let patch = SessionPatch {
                set_fields,
                last_seen: now(),
                ..SessionPatch::default()
            };
            ready(store.save(&next_id(), &patch)).unwrap()
        })
    });
    group.bench_function("touch", |b| {
        b.iter(|| {
            let t = now();
            ready(store.touch(&next_id(), t.plus(Duration::from_secs(3600)), t)).unwrap()
        })
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

criterion_group!(benches, memory_store);
criterion_main!(benches);
