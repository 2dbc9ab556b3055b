//! The load-test server: `session-bench <mode> <port>`.
//!
//! Every mode serves the same three routes on `127.0.0.1:<port>`:
//!
//! - `GET /read`: reads a `u64` counter from the session, writes nothing;
//! - `GET /write`: increments it (a request without a session creates one);
//! - `GET /stats`, outside the session layer: `new_sessions=N`, how many
//!   `/write` requests found no session.
//!
//! Modes: `bare` (axum, no session layer), `bare-spin` (`bare` plus a busy
//! wait of `BENCH_SPIN_NS` nanoseconds per request, default 1,000: a known
//! amount of added CPU that calibrates the harness), `ours-memory`, `ours-redis`,
//! `ours-redis-cached` (`ours-redis` with the store's local cache),
//! `ours-cookie`, `ours-file` (the file store, in the directory
//! `BENCH_FILE_DIR` names), `ts-memory` (tower-sessions and its `MemoryStore`) and
//! `ts-redis` (tower-sessions-redis-store). Redis is at `127.0.0.1:6379`
//! unless `REDIS_URL` says otherwise. Cookies are plain-HTTP (`Secure` off)
//! and named `id` in every mode. `bench/run.py` drives it.
//!
//! Built with `--features mimalloc`, every mode runs on mimalloc instead of
//! the system allocator.

use std::net::SocketAddr;
use std::process::ExitCode;

use session_bench::{Mode, modes};

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The allocator this binary was built with, for the startup line.
const ALLOCATOR_NAME: &str = if cfg!(feature = "mimalloc") {
    "mimalloc"
} else {
    "system"
};

const USAGE: &str = "usage: session-bench <mode> <port>
modes: bare, bare-spin, ours-memory, ours-redis, ours-redis-cached, ours-cookie, ours-file, ts-memory, ts-redis
environment: REDIS_URL (default redis://127.0.0.1:6379), BENCH_WORKERS (tokio worker threads;
default: the CPUs this process may run on), BENCH_SPIN_NS (bare-spin's busy wait, default 1000)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mode, port) = match parse(&args) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("{message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    if let Some(workers) = std::env::var("BENCH_WORKERS")
        .ok()
        .and_then(|w| w.parse::<usize>().ok())
        .filter(|&w| w > 0)
    {
        runtime.worker_threads(workers);
    }
    let runtime = match runtime.build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("session-bench: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(mode, port)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("session-bench {}: {error}", mode.name());
            ExitCode::FAILURE
        }
    }
}

fn parse(args: &[String]) -> Result<(Mode, u16), String> {
    let [mode, port] = args else {
        return Err("expected two arguments".into());
    };
    let mode = Mode::parse(mode).ok_or_else(|| format!("unknown mode {mode:?}"))?;
    let port = port
        .parse::<u16>()
        .map_err(|_| format!("bad port {port:?}"))?;
    Ok((mode, port))
}

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

async fn serve(mode: Mode, port: u16) -> Result<(), Box<dyn std::error::Error>> {
    let router = modes::router(mode, &redis_url()).await?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!(
        "session-bench {} listening on {addr} (allocator: {ALLOCATOR_NAME})",
        mode.name()
    );
    axum::serve(listener, router).await?;
    Ok(())
}
