//! The stored formats: the typed data's field map, the versioned record
//! envelope (stores that keep whole records), and the cookie store's sealed
//! cookie (signed, and encrypted).

mod common;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use session_core::record::envelope;
use session_core::store::ClientSide;
use session_core::{CookieStore, FieldMap, SessionData, SigningKeys, TokenSigner};

use common::{Counter, counter_record, key};

fn fields(c: &mut Criterion) {
    let mut group = c.benchmark_group("fields");
    let counter = Counter { count: 123_456 };
    let map = counter.encode().unwrap();
    group.bench_function("encode_counter", |b| {
        b.iter(|| black_box(&counter).encode().unwrap())
    });
    group.bench_function("decode_counter", |b| {
        b.iter(|| Counter::decode(black_box(&map)).unwrap())
    });
    let json = serde_json::to_string(&map).unwrap();
    group.bench_function("field_map_to_json", |b| {
        b.iter(|| serde_json::to_string(black_box(&map)).unwrap())
    });
    group.bench_function("field_map_from_json", |b| {
        b.iter(|| serde_json::from_str::<FieldMap>(black_box(&json)).unwrap())
    });
    group.finish();
}

fn record_envelope(c: &mut Criterion) {
    let mut group = c.benchmark_group("envelope");
    let record = counter_record(123_456);
    let bytes = envelope::encode(&record).unwrap();
    group.bench_function("encode", |b| {
        b.iter(|| envelope::encode(black_box(&record)).unwrap())
    });
    group.bench_function("decode", |b| {
        b.iter(|| envelope::decode(black_box(&bytes)).unwrap())
    });
    group.finish();
}

fn cookie(c: &mut Criterion) {
    let mut group = c.benchmark_group("cookie_store");
    let signer = TokenSigner::new(SigningKeys::single(key(1)), "id");
    let record = counter_record(123_456);
    for (name, store) in [
        ("signed", CookieStore::signed()),
        ("encrypted", CookieStore::encrypted()),
    ] {
        let sealed = store.seal(&signer, &record).unwrap();
        group.bench_function(format!("seal_{name}"), |b| {
            b.iter(|| store.seal(&signer, black_box(&record)).unwrap())
        });
        group.bench_function(format!("open_{name}"), |b| {
            b.iter(|| store.open(&signer, black_box(&sealed)).unwrap())
        });
    }
    group.finish();
}

/// The Redis client's parsing of a counter session's `HGETALL` reply (the
/// packed metadata and the counter, as the Redis store lays them out), the
/// same work its connection does for every uncached Redis read.
fn redis_reply(c: &mut Criterion) {
    let mut group = c.benchmark_group("redis_reply");
    let meta = "2:1763870000000:1763870000000:1763873600000:3";
    let reply = format!(
        "*4\r\n$2\r\n_m\r\n${}\r\n{meta}\r\n$7\r\nf:count\r\n$6\r\n123456\r\n",
        meta.len()
    );
    // The save script's reply: status, user (nil), grew; with a local cache
    // also the stored metadata and whether it wrote.
    let uncached = "*3\r\n:1\r\n$-1\r\n:0\r\n";
    let cached = format!(
        "*5\r\n:1\r\n$-1\r\n:0\r\n${}\r\n{meta}\r\n:1\r\n",
        meta.len()
    );
    for (name, text) in [
        ("parse_hgetall_counter", reply.as_str()),
        ("parse_save_reply", uncached),
        ("parse_save_reply_cached", cached.as_str()),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| redis::parse_redis_value(black_box(text.as_bytes())).unwrap())
        });
    }
    group.finish();
}

/// What the Redis store's decoder does with each data value of a reply: a
/// UTF-8 check (taking the bytes as text), and the JSON check a value
/// passes (the typed read parses it again later). A counter's value, and a
/// value of about 1 KiB.
fn redis_values(c: &mut Criterion) {
    let mut group = c.benchmark_group("redis_values");
    let tags: Vec<String> = (0..60).map(|i| format!("tag-{i:04}")).collect();
    let big = serde_json::json!({ "name": "Ada Lovelace", "tags": tags }).to_string();
    for (name, value) in [("counter", b"123456".to_vec()), ("1kib", big.into_bytes())] {
        group.bench_function(format!("utf8_{name}"), |b| {
            b.iter(|| String::from_utf8(black_box(value.clone())).unwrap())
        });
        group.bench_function(format!("utf8_json_{name}"), |b| {
            b.iter(|| {
                let text = String::from_utf8(black_box(value.clone())).unwrap();
                serde_json::from_str::<&serde_json::value::RawValue>(&text).unwrap();
                text
            })
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    fields,
    record_envelope,
    cookie,
    redis_reply,
    redis_values
);
criterion_main!(benches);
