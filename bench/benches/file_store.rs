//! `FileStore` loads, and writes, each durable when it returns: one save at a time,
//! and 64 saves of different sessions started together (as 64 concurrent
//! requests would), which is where a store that commits concurrent writes
//! together gains. Run on the disk the store would use: the figures are
//! mostly the disk's flush time. `BENCH_FILE_DIR` picks the directory
//! (default: the system's temporary directory).

mod common;

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use session_core::{SessionId, SessionStore};
use session_file::FileStore;

use common::{count_patch, counter_record};

const SESSIONS: usize = 1_000;
const CONCURRENT: usize = 64;

fn file_store(c: &mut Criterion) {
    let dir = match std::env::var_os("BENCH_FILE_DIR") {
        Some(dir) => tempfile::tempdir_in(dir),
        None => tempfile::tempdir(),
    }
    .expect("a temporary directory");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let store = runtime.block_on(async {
        FileStore::open(dir.path().join("sessions.redb")).expect("the store opens")
    });
    let ids: Vec<SessionId> = runtime.block_on(async {
        let mut ids = Vec::with_capacity(SESSIONS);
        for i in 0..SESSIONS {
            let record = counter_record(i as u64);
            store.create(&record).await.expect("create");
            ids.push(record.id);
        }
        ids
    });

    let mut group = c.benchmark_group("file_store");
    group.measurement_time(Duration::from_secs(5));
    let mut count = 0u64;
    group.throughput(Throughput::Elements(1));
    group.bench_function("load", |b| {
        b.iter(|| {
            count += 1;
            let id = ids[(count as usize * 7919) % SESSIONS];
            runtime.block_on(store.load(&id)).expect("load")
        })
    });
    group.bench_function("save", |b| {
        b.iter(|| {
            count += 1;
            let id = ids[count as usize % SESSIONS];
            runtime
                .block_on(store.save(&id, &count_patch(count)))
                .expect("save")
        })
    });
    group.throughput(Throughput::Elements(CONCURRENT as u64));
    group.bench_function("save_64_concurrent", |b| {
        b.iter(|| {
            count += 1;
            let first = (count as usize * CONCURRENT) % SESSIONS;
            runtime.block_on(async {
                let saves: Vec<_> = (0..CONCURRENT)
                    .map(|n| {
                        let (store, id) = (store.clone(), ids[(first + n) % SESSIONS]);
                        let patch = count_patch(count);
                        tokio::spawn(async move { store.save(&id, &patch).await })
                    })
                    .collect();
                for save in saves {
                    save.await.expect("no panic").expect("save");
                }
            })
        })
    });
    group.finish();
    drop(store);
}

criterion_group!(benches, file_store);
criterion_main!(benches);
