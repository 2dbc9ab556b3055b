//! Shared helpers for the integration tests: session data types written by
//! hand (what `#[session_data]` generates), a real HTTP server and client,
//! and `redis-server` processes.

pub mod http;
pub mod profile;
pub mod redis;
