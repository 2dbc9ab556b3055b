//! One whole request through each mode's router, in process (no sockets):
//! what a session layer adds to axum, without the kernel's share that the
//! load harness also sees. Memory stores, and with `BENCH_REDIS_URL` set (a
//! Redis server on this machine) also `ours-redis`, its round trip included.

mod common;

use std::hint::black_box;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, header};
use criterion::{Criterion, criterion_group};
use http_body_util::BodyExt;
use session_bench::{Mode, modes};
use tower::ServiceExt;

/// Sends `GET path` with `cookie`; returns the response's `Set-Cookie` pair.
async fn send(router: &Router, path: &str, cookie: Option<&str>) -> Option<String> {
    let mut request = Request::get(path);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    let request = request.body(Body::empty()).expect("request");
    let response = router.clone().oneshot(request).await.expect("infallible");
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    let set_cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_owned);
    let body = response.into_body().collect().await.expect("body");
    black_box(body.to_bytes());
    set_cookie
}

/// A settled session cookie, as the load harness prepares it.
async fn session_cookie(router: &Router) -> String {
    // `bare` sets no cookie: it gets one of a session cookie's size, as in run.py.
    let mut cookie = send(router, "/write", None)
        .await
        .unwrap_or_else(|| format!("id={}", "x".repeat(65)));
    for path in ["/read", "/write", "/read"] {
        if let Some(next) = send(router, path, Some(&cookie)).await {
            cookie = next;
        }
    }
    cookie
}

/// The Redis address given to modes that use none.
const NO_REDIS: &str = "redis://127.0.0.1:1";

/// A current-thread runtime, `mode`'s router as `axum::serve` runs it (every
/// handler turned into a route once) with a Redis store at `redis_url` for
/// the Redis modes, and a settled session cookie.
fn prepare_on(mode: Mode, redis_url: &str) -> (tokio::runtime::Runtime, Router, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let router = runtime
        .block_on(modes::router(mode, redis_url))
        .expect("router")
        .with_state(());
    let cookie = runtime.block_on(session_cookie(&router));
    (runtime, router, cookie)
}

fn requests(c: &mut Criterion) {
    let redis = std::env::var("BENCH_REDIS_URL").ok();
    let mut modes = vec![Mode::Bare, Mode::OursMemory, Mode::TsMemory];
    if redis.is_some() {
        modes.push(Mode::OursRedis);
    }
    for mode in modes {
        let (runtime, router, cookie) = prepare_on(mode, redis.as_deref().unwrap_or(NO_REDIS));
        for path in ["/read", "/write"] {
            c.bench_function(&format!("request/{}{path}", mode.name()), |b| {
                b.iter(|| runtime.block_on(send(&router, path, Some(&cookie))))
            });
        }
    }
}

/// `REQUEST_LOOP=<mode>/<read|write>:<n>`: sends `n` requests of one kind and
/// exits, for instruction counts under callgrind (criterion's own loop
/// varies its iteration count); Redis modes need `BENCH_REDIS_URL`. `<mode>/write-new:<n>` sends `n` requests
/// without a cookie, each creating a session, and prints their timing.
fn fixed_loop(spec: &str) {
    const USAGE: &str = "REQUEST_LOOP=<mode>/<read|write|write-new>:<n>";
    let (name, n) = spec.split_once(':').expect(USAGE);
    let (mode, path) = name.split_once('/').expect(USAGE);
    let mode = Mode::parse(mode).expect(USAGE);
    let path = format!("/{path}");
    let n: usize = n.parse().expect(USAGE);
    let redis = std::env::var("BENCH_REDIS_URL");
    let (runtime, router, cookie) = prepare_on(mode, redis.as_deref().unwrap_or(NO_REDIS));
    if path == "/write-new" {
        // Each request timed alone: how the tail of new-session requests
        // grows with the store.
        let times = common::timed(
            n,
            |_| (),
            |()| {
                runtime.block_on(one_new(&router));
            },
        );
        println!("{n} requests without a cookie, each timed alone; ns");
        println!();
        common::stall_header();
        common::stall_row(&format!("{}/write-new", mode.name()), times);
        return;
    }
    for _ in 0..n {
        runtime.block_on(one(&router, &path, &cookie));
    }
}

#[inline(never)]
async fn one_new(router: &Router) {
    black_box(send(router, "/write", None).await);
}

#[inline(never)]
async fn one(router: &Router, path: &str, cookie: &str) {
    black_box(send(router, path, Some(cookie)).await);
}

criterion_group!(benches, requests);

fn main() {
    if let Ok(spec) = std::env::var("REQUEST_LOOP") {
        fixed_loop(&spec);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
