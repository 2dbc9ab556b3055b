//! Shared helpers for the integration tests: session data types written by
//! hand (what `#[session_data]` generates), a real HTTP server and client,
//! `redis-server` processes, a store wrapper that hooks its calls, and the
//! capture of log lines.

pub mod hooked;
pub mod http;
pub mod logs;
pub mod profile;
pub mod redis;
