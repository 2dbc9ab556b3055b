//! The generic store conformance suite, each case on its own file.

use session_core::MockClock;

use crate::support::temp_store;

session_core::conformance_suite!(|clock: MockClock| async move { temp_store(clock) });
