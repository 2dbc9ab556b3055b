//! [`RedisStore`] and its [`SessionStore`] implementation.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redis::cluster_routing::Slot;
use redis::{RedisError, Value};
use session_core::clock::SharedClock;
use session_core::{
    Capabilities, Page, PageRequest, SaveOutcome, SessionId, SessionInfo, SessionPatch,
    SessionRecord, SessionStore, StoreError, Timestamp,
};

use crate::codec::{self, Hash};
use crate::config::RedisStoreBuilder;
use crate::connection::{Backend, Conn};
use crate::error::{ConfigError, from_redis, unexpected};
use crate::keys::Keys;
use crate::reply;
use crate::scripts::Scripts;

/// Sessions in Redis, standalone or Redis Cluster: one hash per session
/// (fields written one by one), expiry enforced by the server (`PEXPIREAT`),
/// a per-user index, and connections that heal by themselves after an
/// outage. See the [crate docs](crate) for the layout and guarantees.
///
/// Cloning is cheap and clones share connections.
#[derive(Clone)]
pub struct RedisStore {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) backend: Backend,
    pub(crate) keys: Keys,
    pub(crate) prefix: String,
    pub(crate) scripts: Scripts,
    pub(crate) clock: SharedClock,
    pub(crate) timeout: Duration,
    pub(crate) response_timeout: Duration,
    pub(crate) max_record_bytes: usize,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("backend", &self.inner.backend)
            .field("prefix", &self.inner.prefix)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

/// One `(expiry, id)` entry to add to a user index, as sent.
pub(crate) type IndexEntry = (String, String);

impl RedisStore {
    /// A builder (URL or cluster nodes, prefix, timeouts, clock).
    pub fn builder() -> RedisStoreBuilder {
        RedisStoreBuilder::new()
    }

    /// A store on the standalone server at `url` with the default settings.
    pub fn new(url: impl Into<String>) -> Result<Self, ConfigError> {
        Self::builder().url(url).build()
    }

    pub(crate) fn from_parts(
        backend: Backend,
        prefix: &str,
        clock: SharedClock,
        timeout: Duration,
        response_timeout: Duration,
        max_record_bytes: usize,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                backend,
                keys: Keys::new(prefix),
                prefix: prefix.to_owned(),
                scripts: Scripts::new(),
                clock,
                timeout,
                response_timeout,
                max_record_bytes,
            }),
        }
    }

    /// The key prefix.
    pub fn key_prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// Whether the store talks to a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        self.inner.backend.is_cluster()
    }

    /// The bound on one store call.
    pub fn operation_timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// The name of the hash that holds session `id` (for tools and tests).
    pub fn session_key(&self, id: &SessionId) -> String {
        self.inner.keys.session(id)
    }

    /// The name of the sorted set that indexes `user_id`'s sessions.
    pub fn user_index_key(&self, user_id: &str) -> String {
        self.inner.keys.user(user_id)
    }

    /// Checks that Redis answers (`PING`), connecting first if needed.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.bounded("ping", async {
            let mut conn = self.conn().await?;
            let _: Value = redis::cmd("PING")
                .query_async(&mut conn)
                .await
                .map_err(|e| self.err(e))?;
            Ok(())
        })
        .await
    }

    pub(crate) fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    pub(crate) fn err(&self, err: RedisError) -> StoreError {
        from_redis(err, self.inner.response_timeout)
    }

    pub(crate) async fn conn(&self) -> Result<Conn, StoreError> {
        self.inner
            .backend
            .connection()
            .await
            .map_err(|e| self.err(e))
    }

    /// Runs one store call within the operation timeout.
    pub(crate) async fn bounded<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.inner.timeout, call).await {
            Ok(result) => {
                if let Err(e) = &result
                    && e.is_unavailable()
                {
                    tracing::debug!(operation, error = %e, "redis store call failed");
                }
                result
            }
            Err(_) => {
                tracing::warn!(operation, timeout = ?self.inner.timeout, "redis store call timed out");
                Err(StoreError::Timeout(self.inner.timeout))
            }
        }
    }

    /// Updates the user index `index` (one script, one round trip): trim
    /// entries expired at `trim`, remove `removed`, add or raise `added` (only
    /// raise existing entries when `only_existing`).
    pub(crate) async fn update_index(
        &self,
        conn: &mut Conn,
        index: &str,
        trim: Option<Timestamp>,
        only_existing: bool,
        removed: &[String],
        added: &[IndexEntry],
    ) -> Result<(), StoreError> {
        let mut invocation = self.inner.scripts.index.key(index);
        invocation
            .arg(trim.map(|t| t.as_millis().to_string()).unwrap_or_default())
            .arg(if only_existing { "xx" } else { "" })
            .arg(removed.len())
            .arg(removed);
        for (expires, id) in added {
            invocation.arg(expires).arg(id);
        }
        let _: Value = invocation
            .invoke_async(conn)
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    fn check_size(&self, size: usize) -> Result<(), StoreError> {
        if size > self.inner.max_record_bytes {
            return Err(StoreError::TooLarge {
                size,
                limit: self.inner.max_record_bytes,
            });
        }
        Ok(())
    }

    /// `save` and `touch`: one script on the session hash, plus a user index
    /// update when a bound session's expiry moved later.
    async fn patch(
        &self,
        id: &SessionId,
        expected_revision: Option<u64>,
        last_seen: Timestamp,
        expires_at: Option<Timestamp>,
        set: Vec<String>,
        removed: Vec<String>,
    ) -> Result<SaveOutcome, StoreError> {
        let now = self.now();
        let mut conn = self.conn().await?;
        let key = self.inner.keys.session(id);
        let mut invocation = self.inner.scripts.patch.key(&key);
        invocation
            .arg(now.as_millis())
            .arg(expected_revision.map(|r| r.to_string()).unwrap_or_default())
            .arg(last_seen.as_millis())
            .arg(
                expires_at
                    .map(|e| e.as_millis().to_string())
                    .unwrap_or_default(),
            )
            .arg(expires_at.map(codec::expire_at_arg).unwrap_or_default())
            .arg(set.len() / 2)
            .arg(&set)
            .arg(&removed);
        let reply: Value = invocation
            .invoke_async(&mut conn)
            .await
            .map_err(|e| self.err(e))?;
        let mut items = reply::array(reply)
            .ok_or_else(|| unexpected("the save script"))?
            .into_iter();
        match items.next().as_ref().and_then(reply::int) {
            Some(0) => Ok(SaveOutcome::Missing),
            Some(1) => {
                let user = items.next().and_then(reply::text);
                let grew = items.next().as_ref().and_then(reply::int) == Some(1);
                if let (true, Some(user), Some(expires_at)) = (grew, user, expires_at) {
                    // The index entry's score follows the session's expiry, so
                    // trimming the index never drops a live session.
                    let index = self.inner.keys.user(&user);
                    let entry = (expires_at.as_millis().to_string(), id.to_string());
                    if let Err(e) = self
                        .update_index(&mut conn, &index, Some(now), false, &[], &[entry])
                        .await
                    {
                        tracing::warn!(session = %id.short(), error = %e,
                            "session refreshed but its user index entry was not; reporting the failure");
                        return Err(e);
                    }
                }
                Ok(SaveOutcome::Saved)
            }
            Some(2) => {
                let current = items
                    .next()
                    .and_then(reply::text)
                    .and_then(|r| r.parse().ok())
                    .ok_or_else(|| unexpected("the save script"))?;
                Ok(SaveOutcome::Conflict { current })
            }
            Some(3) => {
                let reason = items.next().and_then(reply::text).unwrap_or_default();
                Err(StoreError::Corrupt(reason))
            }
            _ => Err(unexpected("the save script")),
        }
    }
}

#[async_trait]
impl SessionStore for RedisStore {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    async fn create(&self, record: &SessionRecord) -> Result<(), StoreError> {
        self.check_size(record.fields.byte_size() + record.flash.byte_size())?;
        let pairs = codec::encode_record(record)?;
        self.bounded("create", async {
            let now = self.now();
            let mut conn = self.conn().await?;
            let key = self.inner.keys.session(&record.id);
            let id = record.id.to_string();
            let expires = record.expires_at.as_millis().to_string();
            let mut invocation = self.inner.scripts.create.key(&key);
            if let Some(user) = record.user_id() {
                let index = self.inner.keys.user(user);
                if self.inner.backend.is_cluster() && Slot::for_key(&key) != Slot::for_key(&index) {
                    // Another slot: the index entry goes first, so a failure
                    // between the two steps leaves a stale entry (ignored and
                    // cleaned by listings), never an unindexed session.
                    let entry = (expires.clone(), id.clone());
                    self.update_index(&mut conn, &index, Some(now), false, &[], &[entry])
                        .await?;
                } else {
                    invocation.key(index);
                }
            }
            invocation
                .arg(now.as_millis())
                .arg(codec::expire_at_arg(record.expires_at))
                .arg(&id)
                .arg(&expires)
                .arg(&pairs);
            let created: i64 = invocation
                .invoke_async(&mut conn)
                .await
                .map_err(|e| self.err(e))?;
            if created == 1 {
                Ok(())
            } else {
                Err(StoreError::Collision)
            }
        })
        .await
    }

    async fn load(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        self.load_at(id, self.now()).await
    }

    async fn load_at(
        &self,
        id: &SessionId,
        now: Timestamp,
    ) -> Result<Option<SessionRecord>, StoreError> {
        self.bounded("load", async {
            let mut conn = self.conn().await?;
            let reply: Value = redis::cmd("HGETALL")
                .arg(self.inner.keys.session(id))
                .query_async(&mut conn)
                .await
                .map_err(|e| self.err(e))?;
            match codec::decode_hash(*id, reply)? {
                None => Err(unexpected("HGETALL")),
                Some(Hash::Missing) => Ok(None),
                Some(Hash::Found(record)) => Ok((!record.is_expired(now)).then_some(record)),
            }
        })
        .await
    }

    async fn save(&self, id: &SessionId, patch: &SessionPatch) -> Result<SaveOutcome, StoreError> {
        self.check_size(patch.set_fields.byte_size() + patch.set_flash.byte_size())?;
        let (set, removed) = codec::encode_patch(patch);
        self.bounded(
            "save",
            self.patch(
                id,
                patch.expected_revision,
                patch.last_seen,
                patch.expires_at,
                set,
                removed,
            ),
        )
        .await
    }

    async fn touch(
        &self,
        id: &SessionId,
        expires_at: Timestamp,
        last_seen: Timestamp,
    ) -> Result<SaveOutcome, StoreError> {
        self.bounded(
            "touch",
            self.patch(
                id,
                None,
                last_seen,
                Some(expires_at),
                Vec::new(),
                Vec::new(),
            ),
        )
        .await
    }

    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        self.bounded("delete", async {
            let now = self.now();
            let mut conn = self.conn().await?;
            let key = self.inner.keys.session(id);
            let reply: Value = self
                .inner
                .scripts
                .delete
                .key(&key)
                .arg(now.as_millis())
                .arg("0")
                .invoke_async(&mut conn)
                .await
                .map_err(|e| self.err(e))?;
            let mut items = reply::array(reply)
                .ok_or_else(|| unexpected("the delete script"))?
                .into_iter();
            let live = items.next().as_ref().and_then(reply::int) == Some(1);
            if let Some(user) = items.next().and_then(reply::text) {
                // Best effort: an entry left behind is ignored and cleaned by listings.
                let index = self.inner.keys.user(&user);
                if let Err(e) = self
                    .update_index(&mut conn, &index, None, false, &[id.to_string()], &[])
                    .await
                {
                    tracing::debug!(session = %id.short(), error = %e,
                        "deleted session left a stale user index entry");
                }
            }
            Ok(live)
        })
        .await
    }

    async fn list_for_user(&self, user_id: &str) -> Result<Vec<SessionInfo>, StoreError> {
        self.bounded("list_for_user", self.user_sessions(user_id))
            .await
    }

    async fn delete_for_user(
        &self,
        user_id: &str,
        keep: Option<&SessionId>,
    ) -> Result<usize, StoreError> {
        self.bounded("delete_for_user", self.revoke_user(user_id, keep))
            .await
    }

    async fn list(&self, page: PageRequest) -> Result<Page<SessionInfo>, StoreError> {
        self.bounded("list", self.list_page(page)).await
    }
}
