use std::sync::Arc;

use session_core::{CookieStore, MemoryStore, MockClock};

mod memory {
    use super::*;
    session_core::conformance_suite!(|clock: MockClock| async move {
        MemoryStore::with_clock(Arc::new(clock))
    });
}

mod cookie_signed {
    use super::*;
    session_core::conformance_suite!(|_clock: MockClock| async move { CookieStore::signed() });
}

mod cookie_encrypted {
    use super::*;
    session_core::conformance_suite!(|_clock: MockClock| async move { CookieStore::encrypted() });
}
