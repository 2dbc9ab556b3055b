//! A look at the server's eviction policy once the store has connected.
//!
//! Under a memory limit and any policy but `noeviction`, Redis evicts a
//! user's index key and that user's session keys independently: a session
//! whose index entry was evicted still loads, but escapes `list_for_user`,
//! `delete_for_user` (revoking every session of a user whose password
//! changed) and the per-user limit. The store cannot tell an evicted index
//! from an empty one, so it says so in the log, once.

use redis::Value;
use redis::aio::ConnectionLike;

/// What one server's `INFO memory` says about eviction.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Eviction<'a> {
    /// `maxmemory-policy`.
    pub(crate) policy: &'a str,
    /// `maxmemory`: 0 is no limit, so nothing is ever evicted.
    pub(crate) limit: u64,
}

impl Eviction<'_> {
    /// Whether the server may evict session keys.
    pub(crate) fn may_evict(&self) -> bool {
        self.limit > 0 && self.policy != "noeviction"
    }
}

/// The eviction settings an `INFO memory` reply names.
pub(crate) fn eviction_of(info: &str) -> Option<Eviction<'_>> {
    let field = |name: &str| {
        info.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
            .map(str::trim)
    };
    Some(Eviction {
        policy: field("maxmemory_policy")?,
        limit: field("maxmemory")?.parse().ok()?,
    })
}

/// The reply texts of `INFO`: one server's, or each node's in a cluster
/// (a map of node to reply).
fn texts(reply: Value) -> Vec<String> {
    match reply {
        Value::BulkString(bytes) => vec![String::from_utf8_lossy(&bytes).into_owned()],
        Value::SimpleString(text) | Value::VerbatimString { text, .. } => vec![text],
        Value::Map(nodes) => nodes.into_iter().flat_map(|(_, v)| texts(v)).collect(),
        Value::Array(items) => items.into_iter().flat_map(texts).collect(),
        _ => Vec::new(),
    }
}

/// Asks the server (every master of a cluster) for its eviction settings
/// and warns when one may evict session data. A server that does not answer
/// (no `INFO` for this user, say) is left alone: this is advice, not a
/// condition.
pub(crate) async fn check(mut conn: impl ConnectionLike) {
    let reply = match redis::cmd("INFO")
        .arg("memory")
        .query_async::<Value>(&mut conn)
        .await
    {
        Ok(reply) => reply,
        Err(error) => {
            tracing::debug!(%error, "could not read redis's eviction policy");
            return;
        }
    };
    let texts = texts(reply);
    let settings: Vec<Eviction<'_>> = texts.iter().filter_map(|t| eviction_of(t)).collect();
    match settings.iter().find(|s| s.may_evict()) {
        Some(evicting) => tracing::warn!(
            policy = evicting.policy,
            maxmemory = evicting.limit,
            "redis may evict session keys (a memory limit with a maxmemory-policy other than noeviction): a user's index can go while their sessions stay, and those sessions then escape listing and revocation (revoke_all); set maxmemory-policy noeviction"
        ),
        None if settings.is_empty() => {
            tracing::debug!("redis's INFO names no eviction settings");
        }
        None => tracing::debug!("redis keeps session keys under memory pressure"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_settings_are_read_from_the_info_reply() {
        let info = "# Memory\r\nused_memory:1\r\nmaxmemory:104857600\r\nmaxmemory_human:100.00M\r\nmaxmemory_policy:allkeys-lru\r\n";
        let read = eviction_of(info).unwrap();
        assert_eq!(
            read,
            Eviction {
                policy: "allkeys-lru",
                limit: 104857600
            }
        );
        assert!(read.may_evict());
        let unlimited = "maxmemory:0\r\nmaxmemory_policy:allkeys-lru\r\n";
        assert!(!eviction_of(unlimited).unwrap().may_evict());
        let kept = "maxmemory:1\r\nmaxmemory_policy:noeviction\r\n";
        assert!(!eviction_of(kept).unwrap().may_evict());
        assert_eq!(eviction_of("# Memory\r\nused_memory:1\r\n"), None);
    }

    #[test]
    fn a_clusters_reply_gives_each_nodes_text() {
        let node = |text: &str| Value::BulkString(text.as_bytes().to_vec());
        let reply = Value::Map(vec![
            (
                node("a:1"),
                node("maxmemory:0\r\nmaxmemory_policy:noeviction\r\n"),
            ),
            (
                node("b:2"),
                node("maxmemory:5\r\nmaxmemory_policy:volatile-lru\r\n"),
            ),
        ]);
        let texts = texts(reply);
        assert_eq!(texts.len(), 2);
        assert!(eviction_of(&texts[1]).unwrap().may_evict());
    }
}
