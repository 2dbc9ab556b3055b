//! The store conformance suite against one shared 3-master cluster.

use session_core::MockClock;

use crate::support;

session_core::conformance_suite!({
    let Some(cluster) = support::cluster() else {
        return;
    };
    move |clock: MockClock| async move {
        let store = support::cluster_store_on(cluster, &clock);
        assert!(store.is_cluster());
        store
    }
});
