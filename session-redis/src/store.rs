//! [`RedisStore`] and its [`SessionStore`] implementation.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redis::cluster_routing::Slot;
use redis::{Cmd, ErrorKind, RedisError, ServerErrorKind, Value};
use session_core::clock::SharedClock;
use session_core::{
    Binding, Capabilities, Page, PageRequest, SaveOutcome, SessionId, SessionInfo, SessionPatch,
    SessionRecord, SessionStore, StoreError, Timestamp,
};
use tokio::time::Instant;

use crate::cache::{LocalCache, OwnWrite};
use crate::codec::{self, Hash, Meta};
use crate::config::RedisStoreBuilder;
use crate::connection::{Backend, Conn};
use crate::error::{ConfigError, connection_lost, from_redis, unexpected, wrong_type};
use crate::keys::Keys;
use crate::reply;
use crate::reports::Reports;
use crate::scripts::{LuaScript, Scripts};

/// How long a create marker (see [`Keys::creating`]) lives: far longer
/// than a create takes, and short enough that the stale entry of a create
/// that failed is cleaned by a listing soon after.
const CREATE_MARKER_TTL: Duration = Duration::from_secs(60);

/// How long a delete's tombstone outlives the call's operation timeout.
const TOMBSTONE_TTL: Duration = Duration::from_secs(60);

/// How long a record a save closed (its expiry set in the past) stays in
/// Redis, never loaded or saved again, for a close the client sends again.
const CLOSED_KEPT: Duration = Duration::from_secs(60);

/// The longest a tombstone lives, whatever the operation timeout: an
/// unbounded call (`Duration::MAX`) must not leave one per delete for ever.
const MAX_TOMBSTONE_TTL: Duration = Duration::from_secs(24 * 3600);

/// A deadline for a timeout too long to add to now: never in practice
/// (tokio's own "far future" is the same 30 years).
const FAR_FUTURE: Duration = Duration::from_secs(30 * 365 * 24 * 3600);

/// Sessions in Redis, standalone or Redis Cluster: one hash per session
/// (data fields written one by one, metadata packed in one field), expiry
/// enforced by the server (`PEXPIREAT`),
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
    /// The bound on one store call.
    pub(crate) timeout: Duration,
    /// The bound on one command's reply: the response timeout, or the
    /// operation timeout when that is shorter.
    pub(crate) command_timeout: Duration,
    pub(crate) max_record_bytes: usize,
    /// The local cache, when configured (standalone only).
    pub(crate) cache: Option<Arc<LocalCache>>,
    /// Failures summed up in the log.
    pub(crate) reports: Reports,
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

/// One `(score, id)` entry of a user index, as sent: a score is an expiry.
pub(crate) type IndexEntry = (String, String);

/// Forgets the cached copies of some sessions when dropped: after the write
/// its caller awaited, and also when the caller went away first (a timeout,
/// a cancelled request) with the write queued and maybe still to run. That
/// write's invalidation carries this store's marker, so it is not taken for
/// a change, and only this keeps a copy from outliving it. A write that
/// completed and was followed by the copy is [`kept`](Forget::kept).
pub(crate) struct Forget<'a> {
    store: &'a RedisStore,
    ids: &'a [SessionId],
    armed: bool,
}

impl Forget<'_> {
    /// The copies followed the completed write: nothing to forget.
    pub(crate) fn kept(mut self) {
        self.armed = false;
    }
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        if self.armed {
            for id in self.ids {
                self.store.changed(id);
            }
        }
    }
}

/// What one update of a user index does, in this order.
#[derive(Default)]
pub(crate) struct IndexChange<'a> {
    /// Entries expired at this time go.
    pub(crate) trim: Option<Timestamp>,
    /// Entries that go whatever: their session was found deleted, expired
    /// or bound to someone else, or they name no session id.
    pub(crate) removed: &'a [String],
    /// Members that are not text, so no session id: they go whatever.
    pub(crate) junk: &'a [Vec<u8>],
    /// Entries whose session was not found: they go unless their create
    /// marker (see [`Keys::creating`]) says the session is being written.
    pub(crate) stale: &'a [String],
    /// `(score, id)`: entries found expired or foreign, which go only while
    /// their score is at most `score`. A refresh that ran since they were
    /// read raised (or re-added) them, and they stay.
    pub(crate) outdated: &'a [IndexEntry],
    /// `(expiry, id)` entries to add, or to raise to that expiry.
    pub(crate) added: &'a [IndexEntry],
    /// Only raise existing entries; add none.
    pub(crate) only_existing: bool,
    /// The session whose create marker to set.
    pub(crate) creating: Option<&'a SessionId>,
}

/// When a store call's time is up.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline(Instant);

impl RedisStore {
    /// A builder (URL or cluster nodes, prefix, timeouts, clock).
    pub fn builder() -> RedisStoreBuilder {
        RedisStoreBuilder::new()
    }

    /// A store on the standalone server at `url` with the default settings.
    pub fn new(url: impl Into<String>) -> Result<Self, ConfigError> {
        Self::builder().url(url).build()
    }

    #[allow(clippy::too_many_arguments)] // the builder's settings, named
    pub(crate) fn from_parts(
        backend: Backend,
        keys: Keys,
        cache: Option<Arc<LocalCache>>,
        prefix: &str,
        clock: SharedClock,
        timeout: Duration,
        command_timeout: Duration,
        max_record_bytes: usize,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                backend,
                keys,
                prefix: prefix.to_owned(),
                scripts: Scripts::new(),
                clock,
                timeout,
                command_timeout,
                max_record_bytes,
                cache,
                reports: Reports::default(),
            }),
        }
    }

    /// Whether sessions are cached in this process
    /// ([`RedisStoreBuilder::local_cache`]).
    pub fn has_local_cache(&self) -> bool {
        self.inner.cache.is_some()
    }

    /// Session `id` was created or deleted by this store, or may have been
    /// (a failed call): its cached copy goes.
    pub(crate) fn changed(&self, id: &SessionId) {
        if let Some(cache) = &self.inner.cache {
            cache.changed(id);
        }
    }

    /// Forgets the cached copies of `ids` when dropped, unless
    /// [`kept`](Forget::kept): see [`Forget`].
    pub(crate) fn forget_on_drop<'a>(&'a self, ids: &'a [SessionId]) -> Forget<'a> {
        Forget {
            store: self,
            ids,
            armed: true,
        }
    }

    /// A fresh write id for a call that changes a session, or `None`: only a
    /// cluster store's client sends a call again (a late reply, a dropped
    /// connection), and the scripts use the id to tell such an attempt from
    /// a new call (see [`scripts`](crate::scripts)).
    pub(crate) fn write_id(&self) -> Option<String> {
        self.is_cluster().then(|| SessionId::generate().to_string())
    }

    /// The delete script's command for session `id` at `now`, checking that
    /// it is bound to `bound_to` when given. Keys: the session, with a local
    /// cache this store's marker of it, with a write id the session's
    /// tombstone.
    pub(crate) fn delete_command(
        &self,
        id: &SessionId,
        bound_to: Option<&str>,
        now: Timestamp,
    ) -> redis::Cmd {
        let write_id = self.write_id();
        let keys = 1 + usize::from(self.inner.cache.is_some()) + usize::from(write_id.is_some());
        let mut cmd = self.inner.scripts.delete.call(keys, 5, 64);
        self.inner.keys.write_session(id, &mut cmd);
        if let Some(cache) = &self.inner.cache {
            self.inner.keys.write_marker(id, cache.writer(), &mut cmd);
        }
        if write_id.is_some() {
            self.inner.keys.write_tombstone(id, &mut cmd);
        }
        cmd.arg(now.as_millis());
        match bound_to {
            Some(user) => cmd.arg("1").arg(user),
            None => cmd.arg("0").arg(""),
        };
        match &write_id {
            // Longer than any attempt of this call can come after the first.
            Some(write_id) => cmd.arg(write_id).arg(
                self.inner
                    .timeout
                    .saturating_add(TOMBSTONE_TTL)
                    .min(MAX_TOMBSTONE_TTL)
                    .as_millis()
                    .to_string(),
            ),
            None => cmd.arg("").arg(""),
        };
        cmd
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
        self.call("ping", |mut conn, _| async move {
            conn.send(&redis::cmd("PING"))
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
        from_redis(err, self.inner.command_timeout, &self.inner.reports)
    }

    pub(crate) async fn conn(&self) -> Result<Conn<'_>, StoreError> {
        self.inner
            .backend
            .connection()
            .await
            .map_err(|e| self.err(e))
    }

    /// The deadline of a call starting now.
    pub(crate) fn deadline(&self) -> Deadline {
        let now = Instant::now();
        Deadline(
            now.checked_add(self.inner.timeout)
                .unwrap_or_else(|| now + FAR_FUTURE),
        )
    }

    fn timed_out(&self, operation: &'static str) -> StoreError {
        tracing::debug!(operation, timeout = ?self.inner.timeout, "redis store call timed out");
        self.inner.reports.timed_out(operation, self.inner.timeout);
        StoreError::Timeout(self.inner.timeout)
    }

    fn logged<T>(operation: &'static str, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(e) = &result
            && e.is_unavailable()
        {
            tracing::debug!(operation, error = %e, "redis store call failed");
        }
        result
    }

    /// Runs one store call, of any number of commands, under one timer of
    /// the operation timeout. In a cluster, a call that times out (its timer,
    /// or a command's reply) counts towards replacing the connection
    /// ([`cluster`](crate::cluster)).
    pub(crate) async fn bounded<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let generation = self.inner.backend.cluster_generation();
        let result = match tokio::time::timeout(self.inner.timeout, call).await {
            Ok(result) => Self::logged(operation, result),
            Err(_) => Err(self.timed_out(operation)),
        };
        if let (Some(generation), Err(StoreError::Timeout(_))) = (generation, &result) {
            self.inner.backend.timed_out(generation);
        }
        result
    }

    /// Runs one store call within the operation timeout, on the hot path
    /// without a timer of its own.
    ///
    /// When the standalone connection is up, `call` runs at once: the reply
    /// to each command is bounded inside the client by the command timeout,
    /// at most the operation timeout, so a call that sends one command is
    /// bounded as it is, and `call` bounds any command after its first by
    /// the deadline it is given ([`within`](Self::within)). Otherwise (a
    /// connection still to be made, or a cluster, whose client retries and
    /// follows redirects) the whole call runs under one timer.
    pub(crate) async fn call<'s, T, F, Fut>(
        &'s self,
        operation: &'static str,
        call: F,
    ) -> Result<T, StoreError>
    where
        F: FnOnce(Conn<'s>, Deadline) -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        self.call_by(operation, self.deadline(), call).await
    }

    /// [`call`](Self::call) with the deadline of a call that began earlier.
    pub(crate) async fn call_by<'s, T, F, Fut>(
        &'s self,
        operation: &'static str,
        deadline: Deadline,
        call: F,
    ) -> Result<T, StoreError>
    where
        F: FnOnce(Conn<'s>, Deadline) -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        if let Some(conn) = self.inner.backend.ready() {
            return Self::logged(operation, call(conn, deadline).await);
        }
        // Boxed, so the hot path's future (boxed again by the trait, and
        // moved on every call) stays small.
        Box::pin(self.bounded(operation, async {
            let conn = self.conn().await?;
            call(conn, deadline).await
        }))
        .await
    }

    /// Bounds a later step of a [`call`](Self::call) by its deadline.
    pub(crate) async fn within<T>(
        &self,
        operation: &'static str,
        deadline: Deadline,
        step: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout_at(deadline.0, step).await {
            Ok(result) => result,
            Err(_) => Err(self.timed_out(operation)),
        }
    }

    /// Runs a script command (from [`LuaScript::call`]); a node that does
    /// not know the script gets it (`SCRIPT LOAD`) and runs it again, within
    /// the call's deadline.
    pub(crate) async fn eval(
        &self,
        operation: &'static str,
        conn: &mut Conn<'_>,
        script: &LuaScript,
        cmd: &Cmd,
        deadline: Deadline,
    ) -> Result<Value, StoreError> {
        match conn.send(cmd).await {
            Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                // Rare, so boxed: the common future stays small.
                Box::pin(self.within(operation, deadline, async {
                    conn.send(&script.load()).await.map_err(|e| self.err(e))?;
                    conn.send(cmd).await.map_err(|e| self.err(e))
                }))
                .await
            }
            result => result.map_err(|e| self.err(e)),
        }
    }

    /// Updates the user index `index` in one script, one round trip (see
    /// [`IndexChange`]). Always a later step of a call, so bounded by its
    /// deadline ([`within`](Self::within)).
    pub(crate) async fn update_index(
        &self,
        operation: &'static str,
        conn: &mut Conn<'_>,
        deadline: Deadline,
        index: &str,
        change: IndexChange<'_>,
    ) -> Result<(), StoreError> {
        let script = &self.inner.scripts.index;
        // Markers share the index's slot unless its hash tag is empty; then
        // there are none, and stale entries simply go.
        let markers: Option<Vec<String>> = change
            .stale
            .iter()
            .map(|id| Keys::creating(index, id))
            .collect();
        let creating = change
            .creating
            .and_then(|id| Keys::creating(index, &id.to_string()));
        // Without markers, stale entries go as the removed ones do.
        let (also_removed, stale): (&[String], &[String]) = match &markers {
            Some(_) => (&[], change.stale),
            None => (change.stale, &[]),
        };
        let removed: Vec<&[u8]> = change
            .removed
            .iter()
            .chain(also_removed)
            .map(|m| m.as_bytes())
            .chain(change.junk.iter().map(Vec::as_slice))
            .collect();
        let keys = 1 + stale.len() + usize::from(creating.is_some());
        let args =
            6 + removed.len() + stale.len() + 2 * (change.outdated.len() + change.added.len());
        let mut cmd = script.call(keys, args, 0);
        cmd.arg(index);
        if let Some(markers) = &markers {
            cmd.arg(markers);
        }
        if let Some(creating) = &creating {
            cmd.arg(creating);
        }
        match change.trim {
            Some(t) => cmd.arg(t.as_millis()),
            None => cmd.arg(""),
        };
        cmd.arg(if change.only_existing { "xx" } else { "" })
            .arg(removed.len())
            .arg(stale.len())
            .arg(change.outdated.len());
        match creating {
            Some(_) => cmd.arg(CREATE_MARKER_TTL.as_millis().to_string()),
            None => cmd.arg(""),
        };
        cmd.arg(removed).arg(stale);
        for (expires, id) in change.outdated.iter().chain(change.added) {
            cmd.arg(expires).arg(id);
        }
        // Rare, so boxed: the callers' futures stay small.
        let update = self.eval(operation, conn, script, &cmd, deadline);
        Box::pin(self.within(operation, deadline, update)).await?;
        Ok(())
    }

    /// Adds `id` to the user index `index` with the score `expires_at`, or
    /// raises its entry to it, trimming entries expired at `now`: the index
    /// step of a create (which also sets the create marker) or a refresh.
    #[allow(clippy::too_many_arguments)] // the step's parts, named
    async fn index_session(
        &self,
        operation: &'static str,
        conn: &mut Conn<'_>,
        deadline: Deadline,
        index: &str,
        id: &SessionId,
        expires_at: Timestamp,
        now: Timestamp,
        creating: bool,
    ) -> Result<(), StoreError> {
        let entry = [(expires_at.as_millis().to_string(), id.to_string())];
        let creating = creating.then_some(id);
        let change = IndexChange {
            trim: Some(now),
            added: &entry,
            creating,
            ..IndexChange::default()
        };
        self.update_index(operation, conn, deadline, index, change)
            .await
    }

    /// Removes `id`'s entry from `index`, best effort: an entry left behind
    /// is ignored and cleaned by listings.
    async fn unindex(
        &self,
        operation: &'static str,
        conn: &mut Conn<'_>,
        deadline: Deadline,
        index: &str,
        id: &SessionId,
    ) {
        let removed = [id.to_string()];
        let change = IndexChange {
            removed: &removed,
            ..IndexChange::default()
        };
        let update = self.update_index(operation, conn, deadline, index, change);
        if let Err(e) = update.await {
            tracing::debug!(session = %id.short(), operation, error = %e,
                "a stale user index entry was left behind");
        }
    }

    /// The error of a script's `{3, reason}` reply: the record is damaged.
    pub(crate) fn damaged(reason: Option<Value>, script: &str) -> StoreError {
        // The reason quotes what the script could not read, which need not
        // be UTF-8.
        let reason = reason
            .and_then(reply::bytes)
            .flatten()
            .map(|reason| String::from_utf8_lossy(&reason).into_owned())
            .unwrap_or_else(|| format!("{script} found the record damaged"));
        StoreError::Corrupt(reason)
    }

    /// The error of a script's `{4, size}` reply: the write would leave the
    /// record over the size limit.
    pub(crate) fn too_large(
        &self,
        operation: &'static str,
        size: Option<Value>,
        script: &str,
    ) -> StoreError {
        let Some(size) = size
            .as_ref()
            .and_then(reply::int)
            .and_then(|size| usize::try_from(size).ok())
        else {
            return unexpected(script);
        };
        tracing::debug!(
            operation,
            size,
            limit = self.inner.max_record_bytes,
            "redis store refused a write leaving a record over its size limit"
        );
        StoreError::TooLarge {
            size,
            limit: self.inner.max_record_bytes,
        }
    }

    pub(crate) fn check_size(
        &self,
        operation: &'static str,
        size: usize,
    ) -> Result<(), StoreError> {
        if size > self.inner.max_record_bytes {
            tracing::debug!(
                operation,
                size,
                limit = self.inner.max_record_bytes,
                "redis store refused a record over its size limit"
            );
            return Err(StoreError::TooLarge {
                size,
                limit: self.inner.max_record_bytes,
            });
        }
        Ok(())
    }

    /// `save` and `touch`: one script on the session hash. When the expiry
    /// moves later, the bound session's user index entry moves first: in the
    /// same script when the caller named the user and the index shares the
    /// session's node, else as a step of its own before the script (a
    /// failure then leaves a stale entry, which listings ignore and clean,
    /// never a live session missing from its index; a session found missing
    /// has the entry removed again). Without a named user, a step after the
    /// script, for the user the hash names.
    #[allow(clippy::too_many_arguments)] // the operation's parts, named
    async fn patch(
        &self,
        operation: &'static str,
        id: &SessionId,
        patch: Option<&SessionPatch>,
        last_seen: Timestamp,
        expires_at: Option<Timestamp>,
        user: Option<&str>,
    ) -> Result<SaveOutcome, StoreError> {
        let now = self.now();
        // A save that ends the session (a rotation closing the old record).
        let closing = expires_at.is_some_and(|e| e <= now);
        let expected_revision = patch.and_then(|p| p.expected_revision);
        let (set, removed, bytes) = patch.map(codec::patch_size).unwrap_or_default();
        let script = &self.inner.scripts.patch;
        let cache = self.inner.cache.as_deref();
        // Only a refresh moves an index entry: in the script, or before it
        // when the index lives on another node.
        let refresh = expires_at.zip(user);
        let (in_script, before) = match refresh.map(|(e, u)| (e, u, self.inner.keys.user(u))) {
            Some((expires_at, _, index))
                if self.is_cluster()
                    && Slot::for_key(self.inner.keys.session(id)) != Slot::for_key(&index) =>
            {
                // Moving an entry never lowers it: a closing save's stale
                // entry is left to listings, as a delete's may be.
                (None, (!closing).then_some((index, expires_at)))
            }
            Some((_, user, index)) => (Some((user, index)), None),
            None => (None, None),
        };
        let write_id = self.write_id();
        let mut cmd = script.call(
            1 + usize::from(cache.is_some()) + usize::from(in_script.is_some()),
            11 + 2 * set + removed,
            bytes,
        );
        self.inner.keys.write_session(id, &mut cmd);
        if let Some(cache) = cache {
            // The second key: this store's marker (see `cache`).
            self.inner.keys.write_marker(id, cache.writer(), &mut cmd);
        }
        if let Some((_, index)) = &in_script {
            cmd.arg(index);
        }
        cmd.arg(now.as_millis());
        match expected_revision {
            Some(r) => cmd.arg(r),
            None => cmd.arg(""),
        };
        cmd.arg(last_seen.as_millis());
        match expires_at {
            // A closed record is kept a while past its expiry, never loaded
            // or saved again, so that a close the cluster client sends again
            // still finds its write id and answers saved, not missing.
            Some(e) if closing => cmd
                .arg(e.as_millis())
                .arg(codec::expire_at(now.plus(CLOSED_KEPT))),
            Some(e) => cmd.arg(e.as_millis()).arg(codec::expire_at(e)),
            None => cmd.arg("").arg(""),
        };
        match &in_script {
            Some((user, _)) => cmd.arg(*user).arg(id.to_string()),
            None => cmd.arg("").arg(""),
        };
        cmd.arg(write_id.as_deref().unwrap_or(""))
            .arg(self.inner.max_record_bytes)
            .arg(set);
        match patch {
            Some(patch) => codec::write_patch(patch, &mut cmd),
            // A touch removes nothing.
            None => {
                cmd.arg(0);
            }
        }
        let forget = self.forget_on_drop(std::slice::from_ref(id));
        let outcome = self.call(operation, |mut conn, deadline| async move {
            if let Some((index, expires_at)) = &before {
                self.index_session(
                    operation,
                    &mut conn,
                    deadline,
                    index,
                    id,
                    *expires_at,
                    now,
                    false,
                )
                .await?;
            }
            let reply = self.eval(operation, &mut conn, script, &cmd, deadline).await?;
            let items = reply::array(reply).ok_or_else(|| unexpected("the save script"))?;
            let mut items = items.into_iter();
            match items.next().as_ref().and_then(reply::int) {
                Some(0) => {
                    if let Some((index, _)) = &before {
                        // The entry the step before added names a session
                        // that is gone.
                        self.unindex(operation, &mut conn, deadline, index, id)
                            .await;
                    }
                    Ok((SaveOutcome::Missing, None))
                }
                Some(1) => {
                    let stored_user = items.next().and_then(reply::text);
                    let grew = items.next().as_ref().and_then(reply::int) == Some(1);
                    // The stored metadata and whether the hash was written
                    // come only with a cache's marker; `indexed` only when a
                    // user was named (see the script).
                    let (meta, wrote) = match cache {
                        Some(_) => (
                            items.next().and_then(reply::bytes).flatten(),
                            items.next().as_ref().and_then(reply::int) == Some(1),
                        ),
                        None => (None, false),
                    };
                    let indexed = items.next().as_ref().and_then(reply::int) == Some(1);
                    // What the cache needs to follow the write; without one,
                    // not decoded.
                    let stored = cache
                        .and(meta)
                        .and_then(|meta| Some((Meta::decode(&meta).ok()?, wrote)));
                    // Already moved: in the script, or before it for the
                    // user the session turned out to be bound to.
                    let moved = indexed || (before.is_some() && stored_user.as_deref() == user);
                    if let (true, false, Some(user), Some(expires_at)) =
                        (grew, moved, stored_user, expires_at)
                    {
                        // The index entry's score follows the session's expiry, so
                        // trimming the index never drops a live session.
                        let index = self.inner.keys.user(&user);
                        if let Err(e) = self
                            .index_session(
                                operation, &mut conn, deadline, &index, id, expires_at, now, false,
                            )
                            .await
                        {
                            tracing::warn!(session = %id.short(), error = %e,
                                "session refreshed but its user index entry was not; reporting the failure");
                            return Err(e);
                        }
                    }
                    Ok((SaveOutcome::Saved, stored))
                }
                Some(2) => {
                    let current = items
                        .next()
                        .and_then(reply::text)
                        .and_then(|r| r.parse().ok())
                        .ok_or_else(|| unexpected("the save script"))?;
                    Ok((SaveOutcome::Conflict { current }, None))
                }
                Some(3) => Err(Self::damaged(items.next(), "the save script")),
                Some(4) => Err(self.too_large(operation, items.next(), "the save script")),
                _ => Err(unexpected("the save script")),
            }
        })
        .await;
        if let (Some(cache), Ok((SaveOutcome::Saved, Some((stored, wrote))))) = (cache, &outcome) {
            let write = OwnWrite {
                patch,
                last_seen,
                expires_at,
                stored: *stored,
            };
            cache.wrote(id, *wrote, &write);
            forget.kept();
        }
        // Otherwise (refused, failed and perhaps applied, unreadable) the
        // copy goes with `forget`.
        outcome.map(|(outcome, _)| outcome)
    }

    /// One attempt at a load (see `load_at`).
    async fn load_once(
        &self,
        id: &SessionId,
        now: Timestamp,
        deadline: Deadline,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let ticket = match self.inner.cache.as_deref() {
            Some(cache) => match cache.lookup_settled(id).await {
                Ok(record) => return Ok((!record.is_expired(now)).then_some(record)),
                Err(ticket) => Some(ticket),
            },
            None => None,
        };
        let mut cmd = Cmd::with_capacity(2, 64);
        cmd.arg("HGETALL");
        self.inner.keys.write_session(id, &mut cmd);
        self.call_by("load", deadline, |mut conn, _| async move {
            let reply = conn
                .send(&cmd)
                .await
                .map_err(|e| wrong_type(&e).unwrap_or_else(|| self.err(e)))?;
            match codec::decode_hash(*id, reply)? {
                None => Err(unexpected("HGETALL")),
                Some(Hash::Missing) => Ok(None),
                Some(Hash::Found(record)) => {
                    if record.is_expired(now) {
                        return Ok(None);
                    }
                    if let (Some(cache), Some(ticket)) = (&self.inner.cache, ticket) {
                        cache.loaded(ticket, &record);
                    }
                    Ok(Some(record))
                }
            }
        })
        .await
    }
}

#[async_trait]
impl SessionStore for RedisStore {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            max_record_bytes: Some(self.inner.max_record_bytes),
            ..Capabilities::ALL
        }
    }

    async fn create(&self, record: &SessionRecord) -> Result<(), StoreError> {
        // Measured here, before anything is sent: the binding counts too, as
        // its `_b` text (a login's label and meta come from clients).
        let new = codec::NewRecord::new(record)?;
        self.check_size("create", new.size())?;
        let key = self.inner.keys.session(&record.id);
        let index = record.user_id().map(|user| self.inner.keys.user(user));
        // In a cluster, an index in another slot is a step of its own.
        let separate_index = index
            .as_ref()
            .filter(|index| self.is_cluster() && Slot::for_key(&key) != Slot::for_key(index));
        let script = &self.inner.scripts.create;
        let keys = if index.is_some() && separate_index.is_none() {
            2
        } else {
            1
        };
        let (args, bytes) = new.args();
        let mut cmd = script.call(keys, 4 + args, bytes);
        cmd.arg(&key);
        if keys == 2 {
            cmd.arg(&index);
        }
        let id = record.id.to_string();
        let now = self.now();
        cmd.arg(now.as_millis())
            .arg(codec::expire_at(record.expires_at))
            .arg(&id)
            .arg(record.expires_at.as_millis());
        new.write(&mut cmd);
        let _forget = self.forget_on_drop(std::slice::from_ref(&record.id));
        self.call("create", |mut conn, deadline| async move {
            if let Some(index) = separate_index {
                // The index entry goes first, so a failure between the two
                // steps leaves a stale entry (ignored and cleaned by
                // listings), never an unindexed session.
                let (id, expires_at) = (&record.id, record.expires_at);
                // A create marker keeps listings and revocations
                // running before the script from dropping the entry.
                self.index_session(
                    "create", &mut conn, deadline, index, id, expires_at, now, true,
                )
                .await?;
            }
            match self
                .eval("create", &mut conn, script, &cmd, deadline)
                .await?
            {
                Value::Int(1) => Ok(()),
                Value::Int(_) => Err(StoreError::Collision),
                _ => Err(unexpected("the create script")),
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
        let deadline = self.deadline();
        match self.load_once(id, now, deadline).await {
            // The connection died under it (Redis restarted, a proxy closed
            // it): a read is safe to send again, on the connection made
            // meanwhile and within the same deadline, rather than answer
            // 503 for a blip.
            Err(StoreError::Unavailable(source)) if connection_lost(&*source) => {
                tracing::debug!(session = %id.short(), error = %source, "redis connection lost under a load; loading once more");
                let again = self.load_once(id, now, deadline);
                Box::pin(self.within("load", deadline, again)).await
            }
            result => result,
        }
    }

    async fn save(&self, id: &SessionId, patch: &SessionPatch) -> Result<SaveOutcome, StoreError> {
        // The values alone over the limit: refused without a round trip
        // (the script measures the record they would leave).
        self.check_size(
            "save",
            patch.set_fields.byte_size() + patch.set_flash.byte_size(),
        )?;
        let user = patch.user_id.as_deref();
        self.patch(
            "save",
            id,
            Some(patch),
            patch.last_seen,
            patch.expires_at,
            user,
        )
        .await
    }

    async fn touch(
        &self,
        id: &SessionId,
        expires_at: Timestamp,
        last_seen: Timestamp,
        user_id: Option<&str>,
    ) -> Result<SaveOutcome, StoreError> {
        self.patch("touch", id, None, last_seen, Some(expires_at), user_id)
            .await
    }

    /// One script on the session hash, which checks and writes `_b` alone
    /// (see the [crate docs](crate), Atomicity). With a local cache, this
    /// store's copy of a rebound session is dropped, and other stores' go
    /// with the write's invalidation.
    async fn rebind(&self, id: &SessionId, binding: &Binding) -> Result<bool, StoreError> {
        self.rebind_session(id, binding).await
    }

    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        // Whatever the outcome, even with the caller gone: the delete may run.
        let _forget = self.forget_on_drop(std::slice::from_ref(id));
        let script = &self.inner.scripts.delete;
        let cmd = self.delete_command(id, None, self.now());
        self.call("delete", |mut conn, deadline| async move {
            let reply = self
                .eval("delete", &mut conn, script, &cmd, deadline)
                .await?;
            let mut items = reply::array(reply)
                .ok_or_else(|| unexpected("the delete script"))?
                .into_iter();
            let live = items.next().as_ref().and_then(reply::int) == Some(1);
            if let Some(user) = items.next().and_then(reply::text) {
                let index = self.inner.keys.user(&user);
                self.unindex("delete", &mut conn, deadline, &index, id)
                    .await;
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

    /// Every live session, a page at a time, by `SCAN` (on each master in
    /// turn in a cluster): each session present for the whole listing is
    /// listed, also when its slot migrates meanwhile (unless the node asked
    /// for the slot map has not learned of a move yet), but one may be
    /// listed on two pages, when Redis shrinks its table meanwhile, when
    /// the cluster's slot map changes during the listing (a reshard, a
    /// fail-over: the next page then scans every master again from the
    /// first, and the page that would be the last returns a cursor that
    /// does so instead of none), or when a slot migration is under way as
    /// the listing ends (the masters it moves keys into are scanned again).
    /// A listing ends once the map holds still for a page, so one during a
    /// long reshard goes on until the reshard ends. Keys a slot migration
    /// already moved into a node that serves no slot (a new master, or not
    /// a master) are missed: nothing routes to it. A page may hold fewer
    /// items than asked, even none, and still have a next cursor (after a
    /// restart, or when it stopped scanning early: a page takes at most as
    /// many `SCAN` steps as sessions asked for, at least 64, each looking at
    /// up to 1,000 keys, and scans for at most half the operation timeout,
    /// so on a Redis shared with many other keys a listing goes on over more
    /// pages instead of timing out); a page never returns its own cursor
    /// unchanged. When a
    /// master cannot be reached (down, or the client's slot map is behind
    /// even after being read again once) the page fails with
    /// [`StoreError::Unavailable`], and its cursor can be used again later.
    /// See the [crate docs](crate), Atomicity and Requirements (the ACL
    /// commands a cluster listing needs); drop repeats by id if that
    /// matters.
    ///
    /// A page holds at most 1,000 sessions, whatever the limit asked.
    ///
    /// The page cursor is version 2 (`2|master node id|scan cursor|ids|map`,
    /// then `|masters to scan again` once the listing's end checked for
    /// migrations); one naming a master the unchanged map does not hold, or
    /// a list of masters to scan again that the listing's end could not
    /// have made (not in increasing id order, not all after the current
    /// master, or as many as the masters), is refused with
    /// [`StoreError::InvalidCursor`].
    /// Version 1 cursors (`1|host:port|scan cursor|ids`), from earlier
    /// releases, are still accepted and go on as before, to the listing's
    /// end: masters by address, no restart on a reshard.
    async fn list(&self, page: PageRequest) -> Result<Page<SessionInfo>, StoreError> {
        self.bounded("list", self.list_page(page)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The trait boxes every call's future and moves it into place, so its
    /// size is paid on every save; the rare steps (connecting, reloading a
    /// script, the index update) are boxed apart to keep it small.
    #[test]
    fn the_save_future_stays_small() {
        let store = RedisStore::new("redis://127.0.0.1:1").unwrap();
        let id = SessionId::generate();
        let patch = SessionPatch::default();
        let now = Timestamp::from_millis(1);
        let save = store.patch("save", &id, Some(&patch), now, None, None);
        let size = std::mem::size_of_val(&save);
        assert!(size <= 3 * 1024, "the save future is {size} bytes");
    }
}
