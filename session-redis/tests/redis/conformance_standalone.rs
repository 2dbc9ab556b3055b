//! The store conformance suite against one shared standalone server.

use session_core::MockClock;

use crate::support;

session_core::conformance_suite!({
    let Some(server) = support::standalone() else {
        return;
    };
    move |clock: MockClock| async move { support::store_on(server, &clock) }
});
