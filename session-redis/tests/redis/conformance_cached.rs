//! The store conformance suite against a store with a local cache.

use session_core::MockClock;

use crate::support;

session_core::conformance_suite!({
    let Some(server) = support::standalone() else {
        return;
    };
    move |clock: MockClock| async move {
        support::builder(&clock)
            .url(server.url())
            .local_cache(1000)
            .build()
            .expect("store")
    }
});
