//! Tokens: id generation, signing and verifying (HMAC-SHA256, cookie name bound in).

mod common;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use session_core::{SessionId, SigningKeys, TokenSigner};

use common::key;

fn ids(c: &mut Criterion) {
    let mut group = c.benchmark_group("id");
    group.bench_function("generate", |b| b.iter(SessionId::generate));
    let id = SessionId::generate();
    let text = id.to_string();
    group.bench_function("to_string", |b| b.iter(|| black_box(&id).to_string()));
    group.bench_function("parse", |b| {
        b.iter(|| black_box(text.as_str()).parse::<SessionId>().unwrap())
    });
    group.finish();
}

fn tokens(c: &mut Criterion) {
    let mut group = c.benchmark_group("token");
    let signer = TokenSigner::new(SigningKeys::single(key(1)), "id");
    let id = SessionId::generate();
    let token = signer.sign_id(&id);
    group.bench_function("sign_id", |b| b.iter(|| signer.sign_id(black_box(&id))));
    group.bench_function("verify_id", |b| {
        b.iter(|| signer.verify_id(black_box(&token)).unwrap())
    });
    // A token from an unknown key: every key is tried, then refused.
    let forged = TokenSigner::new(SigningKeys::single(key(9)), "id").sign_id(&id);
    group.bench_function("verify_id_bad_signature", |b| {
        b.iter(|| signer.verify_id(black_box(&forged)).unwrap_err())
    });
    // Rotation: the token was signed by the second of two keys.
    let rotated = TokenSigner::new(SigningKeys::new([key(2), key(1)]).unwrap(), "id");
    group.bench_function("verify_id_older_key", |b| {
        b.iter(|| rotated.verify_id(black_box(&token)).unwrap())
    });
    group.bench_function("verify_id_malformed", |b| {
        b.iter(|| signer.verify_id(black_box("not-a-token")).unwrap_err())
    });
    group.finish();
}

/// What `verify_id` is made of, with the same crates: the HMAC of a token's
/// payload from a precomputed key state, and the tag's base64 decoding (and
/// encoding, for comparison).
fn token_parts(c: &mut Criterion) {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use hmac::{Hmac, Mac as _};

    let mut group = c.benchmark_group("token_parts");
    let mac = Hmac::<sha2::Sha256>::new_from_slice(&[7; 64]).unwrap();
    let payload = SessionId::generate().to_string();
    group.bench_function("hmac_sha256_payload", |b| {
        b.iter(|| {
            let mut mac = black_box(&mac).clone();
            mac.update(&[0, 0, 0, 2]);
            mac.update(b"id");
            mac.update(black_box(payload.as_bytes()));
            mac.finalize().into_bytes()
        })
    });
    let tag = [0xa5u8; 32];
    let text = URL_SAFE_NO_PAD.encode(tag);
    group.bench_function("tag_decode", |b| {
        b.iter(|| {
            let mut out = [0u8; 34];
            URL_SAFE_NO_PAD
                .decode_slice(black_box(&text), &mut out)
                .unwrap()
        })
    });
    group.bench_function("tag_encode", |b| {
        b.iter(|| {
            let mut out = [0u8; 43];
            URL_SAFE_NO_PAD
                .encode_slice(black_box(&tag), &mut out)
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, ids, tokens, token_parts);
criterion_main!(benches);
