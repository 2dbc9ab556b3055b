//! Connections: a self-healing [`ConnectionManager`] for a standalone server,
//! a [`ClusterConnection`] (per-node connections, slot routing, redirects,
//! reconnects) for a cluster. Both are made on first use, so a store can be
//! built while Redis is down; a failed first connection is retried by the
//! next call.

use std::fmt;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, RedisError, RedisFuture, RedisResult, Value};
use tokio::sync::OnceCell;

/// Where the store's data lives.
pub(crate) enum Backend {
    Standalone {
        client: redis::Client,
        config: ConnectionManagerConfig,
        manager: OnceCell<ConnectionManager>,
    },
    Cluster {
        client: ClusterClient,
        connection: OnceCell<ClusterConnection>,
    },
}

impl fmt::Debug for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Standalone { manager, .. } => f
                .debug_struct("Standalone")
                .field("connected", &manager.initialized())
                .finish_non_exhaustive(),
            Self::Cluster { connection, .. } => f
                .debug_struct("Cluster")
                .field("connected", &connection.initialized())
                .finish_non_exhaustive(),
        }
    }
}

impl Backend {
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster { .. })
    }

    /// A connection handle (cheap to clone; concurrent commands share the
    /// underlying multiplexed connections).
    pub(crate) async fn connection(&self) -> RedisResult<Conn> {
        match self {
            Self::Standalone {
                client,
                config,
                manager,
            } => {
                let manager = manager
                    .get_or_try_init(|| async {
                        ConnectionManager::new_lazy_with_config(client.clone(), config.clone())
                    })
                    .await?;
                Ok(Conn::Single(manager.clone()))
            }
            Self::Cluster { client, connection } => {
                let connection = connection
                    .get_or_try_init(|| client.get_async_connection())
                    .await?;
                Ok(Conn::Cluster(connection.clone()))
            }
        }
    }
}

/// One connection handle, standalone or cluster.
#[derive(Clone)]
pub(crate) enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}

impl Conn {
    /// The nodes a listing scans, in a stable order: `""` for a standalone
    /// server, else each master's `host:port` (from `CLUSTER SLOTS`), sorted.
    pub(crate) async fn scan_nodes(&mut self) -> RedisResult<Vec<String>> {
        let Self::Cluster(c) = self else {
            return Ok(vec![String::new()]);
        };
        let reply = c
            .route_command(
                redis::cmd("CLUSTER").arg("SLOTS").clone(),
                RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
            )
            .await?;
        let mut nodes = masters_of(&reply).ok_or_else(|| {
            RedisError::from((
                redis::ErrorKind::UnexpectedReturnType,
                "unexpected CLUSTER SLOTS reply",
            ))
        })?;
        nodes.sort();
        nodes.dedup();
        Ok(nodes)
    }

    /// One `SCAN` step on `node` (as named by [`scan_nodes`](Self::scan_nodes)).
    pub(crate) async fn scan(&mut self, node: &str, cmd: Cmd) -> RedisResult<Value> {
        match self {
            Self::Single(c) => cmd.query_async(c).await,
            Self::Cluster(c) => {
                let (host, port) = node
                    .rsplit_once(':')
                    .and_then(|(h, p)| Some((h.to_owned(), p.parse().ok()?)))
                    .ok_or_else(|| {
                        RedisError::from((
                            redis::ErrorKind::Client,
                            "bad cluster node in page cursor",
                        ))
                    })?;
                c.route_command(
                    cmd,
                    RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host, port }),
                )
                .await
            }
        }
    }
}

/// `host:port` of every master in a `CLUSTER SLOTS` reply.
fn masters_of(reply: &Value) -> Option<Vec<String>> {
    let Value::Array(ranges) = reply else {
        return None;
    };
    ranges
        .iter()
        .map(|range| {
            let Value::Array(parts) = range else {
                return None;
            };
            let Value::Array(master) = parts.get(2)? else {
                return None;
            };
            let host = match master.first()? {
                Value::BulkString(b) => String::from_utf8(b.clone()).ok()?,
                Value::SimpleString(s) => s.clone(),
                _ => return None,
            };
            let Value::Int(port) = master.get(1)? else {
                return None;
            };
            Some(format!("{host}:{port}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masters_come_from_cluster_slots() {
        let node = |host: &str, port: i64| {
            Value::Array(vec![
                Value::BulkString(host.as_bytes().to_vec()),
                Value::Int(port),
                Value::BulkString(b"id".to_vec()),
            ])
        };
        let reply = Value::Array(vec![
            Value::Array(vec![
                Value::Int(0),
                Value::Int(5460),
                node("127.0.0.1", 7001),
            ]),
            Value::Array(vec![
                Value::Int(5461),
                Value::Int(16383),
                node("127.0.0.1", 7000),
                node("127.0.0.1", 7003),
            ]),
        ]);
        assert_eq!(
            masters_of(&reply),
            Some(vec!["127.0.0.1:7001".into(), "127.0.0.1:7000".into()])
        );
        assert_eq!(masters_of(&Value::Nil), None);
    }
}
