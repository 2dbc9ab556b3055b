//! A look at the server's eviction policy once the store has connected.
//!
//! Under any policy but `noeviction`, Redis evicts a user's index key and
//! that user's session keys independently: a session whose index entry was
//! evicted still loads, but escapes `list_for_user`, `delete_for_user`
//! (revoking every session of a user whose password changed) and the
//! per-user limit. The store cannot tell an evicted index from an empty
//! one, so it says so in the log, once.

use redis::aio::ConnectionLike;

/// The policy an `INFO memory` reply names.
pub(crate) fn policy_of(info: &str) -> Option<&str> {
    info.lines()
        .find_map(|line| line.strip_prefix("maxmemory_policy:"))
        .map(str::trim)
}

/// Asks the server for its eviction policy and warns when it may evict
/// session data. A server that does not answer (no `INFO` for this user,
/// say) is left alone: this is advice, not a condition.
pub(crate) async fn check(mut conn: impl ConnectionLike) {
    let info = match redis::cmd("INFO")
        .arg("memory")
        .query_async::<String>(&mut conn)
        .await
    {
        Ok(info) => info,
        Err(error) => {
            tracing::debug!(%error, "could not read redis's eviction policy");
            return;
        }
    };
    match policy_of(&info) {
        Some(policy @ "noeviction") => {
            tracing::debug!(policy, "redis keeps session keys under memory pressure");
        }
        Some(policy) => tracing::warn!(
            policy,
            "redis may evict session keys (maxmemory-policy is not noeviction): a user's index can go while their sessions stay, and those sessions then escape listing and revocation (revoke_all); set maxmemory-policy noeviction"
        ),
        None => tracing::debug!("redis's INFO names no eviction policy"),
    }
}

#[cfg(test)]
mod tests {
    use super::policy_of;

    #[test]
    fn the_policy_is_read_from_the_info_reply() {
        let info = "# Memory\r\nused_memory:1\r\nmaxmemory:0\r\nmaxmemory_policy:allkeys-lru\r\n";
        assert_eq!(policy_of(info), Some("allkeys-lru"));
        assert_eq!(policy_of("# Memory\r\nused_memory:1\r\n"), None);
    }
}
