//! Tests against real `redis-server` processes (standalone and a 3-master
//! cluster), started and stopped by the tests themselves.

mod cache;
mod conformance_cached;
mod conformance_cluster;
mod conformance_standalone;
mod damaged;
mod eviction;
mod failover;
mod format;
mod index;
mod keepalive;
mod monitor;
mod moved;
mod outage;
mod pipelining;
mod retries;
mod runtimes;
mod secrets;
mod support;
mod ttl;
mod untrusted;
mod write_limits;
mod writes;
