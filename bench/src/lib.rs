//! The load-test server's routers, one per mode, and the session type the
//! micro-benchmarks share with it. The server binary (`src/main.rs`) and the
//! benches (`benches/`) both use this library.

pub mod modes;
mod stats;

pub use modes::{Counter, Mode};
