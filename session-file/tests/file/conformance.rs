//! The generic store conformance suite, each case on its own file.

use session_core::MockClock;

use crate::support::TempStore;

session_core::conformance_suite!(|clock: MockClock| async move { TempStore::open(clock) });
