//! TCP keepalive on the store's connections, read from the kernel's socket
//! table: an idle connection whose peer went silent is found by probes, not
//! by the kernel giving up many minutes later.

use session_core::MockClock;

use crate::support;

/// The keepalive timer kinds (`tr` column of `/proc/net/tcp`) of the
/// established connections to `ports`: `2` is the keepalive timer, `0` no
/// timer at all (keepalive off on an idle connection).
fn timers_of_connections_to(ports: &[u16]) -> Vec<u8> {
    let mut timers = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let columns: Vec<&str> = line.split_whitespace().collect();
            let (Some(remote), Some(state), Some(timer)) =
                (columns.get(2), columns.get(3), columns.get(5))
            else {
                continue;
            };
            let port = remote
                .rsplit(':')
                .next()
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            let established = *state == "01";
            if established && port.is_some_and(|p| ports.contains(&p)) {
                let kind = timer.split(':').next().unwrap_or_default();
                timers.push(u8::from_str_radix(kind, 16).unwrap_or(u8::MAX));
            }
        }
    }
    timers
}

/// [`timers_of_connections_to`] once every connection is idle: one with
/// data in flight shows the retransmission timer (`1`) instead, for a
/// moment (a cluster client's background refresh, say). Up to 2 s.
async fn idle_timers_of_connections_to(ports: &[u16]) -> Vec<u8> {
    let mut timers = timers_of_connections_to(ports);
    for _ in 0..40 {
        if !timers.contains(&1) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        timers = timers_of_connections_to(ports);
    }
    timers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standalone_connection_has_tcp_keepalive_on() {
    let Some(server) = support::private_server(&[]) else {
        return;
    };
    if !std::path::Path::new("/proc/net/tcp").exists() {
        return;
    }
    let store = support::store_on(&server, &MockClock::starting_now());
    store.ping().await.unwrap();
    let timers = idle_timers_of_connections_to(&[server.port()]).await;
    assert!(!timers.is_empty(), "no connection to the server found");
    assert!(timers.iter().all(|&t| t == 2), "timers: {timers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_connections_have_tcp_keepalive_on() {
    let Some(cluster) = support::private_cluster(&[]) else {
        return;
    };
    if !std::path::Path::new("/proc/net/tcp").exists() {
        return;
    }
    let store = support::cluster_store_on(&cluster, &MockClock::starting_now());
    store.ping().await.unwrap();
    let ports: Vec<u16> = cluster.nodes().iter().map(|n| n.port()).collect();
    let timers = idle_timers_of_connections_to(&ports).await;
    // The nodes' own cluster bus links go to other ports.
    assert!(!timers.is_empty(), "no connection to the cluster found");
    assert!(timers.iter().all(|&t| t == 2), "timers: {timers:?}");
}
