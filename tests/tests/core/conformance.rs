use std::sync::Arc;

use session_core::{MemoryStore, MockClock};

session_core::conformance_suite!(|clock: MockClock| async move {
    MemoryStore::with_clock(Arc::new(clock))
});
