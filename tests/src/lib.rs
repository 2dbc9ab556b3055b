//! Shared helpers for the integration tests: session data types written by
//! hand (what `#[session_data]` generates), and a real HTTP server and client.

pub mod http;
pub mod profile;
