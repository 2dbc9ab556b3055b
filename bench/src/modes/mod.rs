//! One router per mode, each with `/read`, `/write` and `/stats`.

mod bare;
mod ours;
mod tower_sessions;

use axum::Router;

pub use ours::Counter;

/// What serves the routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// axum alone.
    Bare,
    /// axum plus a fixed busy wait per request (`BENCH_SPIN_NS`, default
    /// 1,000 ns): calibration.
    BareSpin,
    /// session-axum over `MemoryStore`.
    OursMemory,
    /// session-axum over `RedisStore`.
    OursRedis,
    /// session-axum over `RedisStore` with its local cache.
    OursRedisCached,
    /// session-axum over `CookieStore` (signed, not encrypted).
    OursCookie,
    /// session-axum over `FileStore`, in `BENCH_FILE_DIR`.
    OursFile,
    /// tower-sessions over its `MemoryStore`.
    TsMemory,
    /// tower-sessions over tower-sessions-redis-store.
    TsRedis,
}

impl Mode {
    /// Every mode, `bare` first.
    pub const ALL: [Mode; 9] = [
        Mode::Bare,
        Mode::BareSpin,
        Mode::OursMemory,
        Mode::OursRedis,
        Mode::OursRedisCached,
        Mode::OursCookie,
        Mode::OursFile,
        Mode::TsMemory,
        Mode::TsRedis,
    ];

    /// The mode's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Bare => "bare",
            Mode::BareSpin => "bare-spin",
            Mode::OursMemory => "ours-memory",
            Mode::OursRedis => "ours-redis",
            Mode::OursRedisCached => "ours-redis-cached",
            Mode::OursCookie => "ours-cookie",
            Mode::OursFile => "ours-file",
            Mode::TsMemory => "ts-memory",
            Mode::TsRedis => "ts-redis",
        }
    }

    /// The mode named `name`.
    pub fn parse(name: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// The router of `mode`; Redis modes connect to `redis_url` first and fail
/// here if it does not answer; `ours-file` fails here without `BENCH_FILE_DIR`.
pub async fn router(mode: Mode, redis_url: &str) -> Result<Router, Box<dyn std::error::Error>> {
    Ok(match mode {
        Mode::Bare => bare::router(),
        Mode::BareSpin => bare::spin_router(spin()),
        Mode::OursMemory => ours::router(ours::Store::Memory)?,
        Mode::OursCookie => ours::router(ours::Store::Cookie)?,
        Mode::OursFile => ours::router(ours::Store::File(ours::file_store()?))?,
        Mode::OursRedis => {
            ours::router(ours::Store::Redis(ours::redis_store(redis_url, 0).await?))?
        }
        Mode::OursRedisCached => ours::router(ours::Store::Redis(
            ours::redis_store(redis_url, ours::CACHED_SESSIONS).await?,
        ))?,
        Mode::TsMemory => tower_sessions::memory_router(),
        Mode::TsRedis => tower_sessions::redis_router(redis_url).await?,
    })
}

/// The busy wait of `bare-spin`: `BENCH_SPIN_NS` nanoseconds, default 1,000.
fn spin() -> std::time::Duration {
    let ns = std::env::var("BENCH_SPIN_NS")
        .ok()
        .and_then(|ns| ns.parse().ok())
        .unwrap_or(1_000);
    std::time::Duration::from_nanos(ns)
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_round_trip() {
        use super::Mode;
        for mode in Mode::ALL {
            assert_eq!(Mode::parse(mode.name()), Some(mode));
        }
        assert_eq!(Mode::parse("nope"), None);
    }
}
