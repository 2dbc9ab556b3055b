//! The per-user index: listing and revoking a user's sessions.
//!
//! Index entries are only hints: every entry is checked against its session
//! hash (present, not expired by the store's clock, bound to this user)
//! before it is listed or its session deleted, and entries that fail the
//! check are removed. So an entry left behind by a failure between two
//! non-atomic steps, or by a session that Redis expired, is harmless.

use futures_util::future::join_all;
use redis::Value;
use session_core::record::sort_most_recent_first;
use session_core::{SessionId, SessionInfo, StoreError};

use crate::codec::{self, Listed};
use crate::connection::Conn;
use crate::error::{unexpected, wrong_type};
use crate::reply;
use crate::store::{IndexChange, IndexEntry, RedisStore};

impl RedisStore {
    /// `(id, score)` of every entry of a user index (one `ZRANGE`), and the
    /// members that are not text, so no session id: put there behind the
    /// store's back, they must not fail every listing and revocation. The
    /// caller removes those in its closing index update, so their removal
    /// neither delays the reads nor runs past the call's deadline.
    async fn index_entries(
        &self,
        conn: &mut Conn<'_>,
        index: &str,
    ) -> Result<(Vec<(String, f64)>, Vec<Vec<u8>>), StoreError> {
        let mut cmd = redis::cmd("ZRANGE");
        cmd.arg(index).arg(0).arg(-1).arg("WITHSCORES");
        let reply = conn.send(&cmd).await.map_err(|e| self.err(e))?;
        let mut items = reply::array(reply).ok_or_else(|| unexpected("ZRANGE"))?;
        // RESP3 (a store with a local cache) pairs each member with its
        // score; RESP2 lists them flat.
        if items.iter().all(|item| matches!(item, Value::Array(_))) {
            items = items.into_iter().flat_map(reply::array).flatten().collect();
        }
        let mut entries = Vec::with_capacity(items.len() / 2);
        let mut junk = Vec::new();
        let mut items = items.into_iter();
        while let Some(member) = items.next() {
            let member = reply::bytes(member)
                .flatten()
                .ok_or_else(|| unexpected("ZRANGE"))?;
            let score = match items.next() {
                Some(Value::Double(d)) => d,
                Some(other) => reply::text(other)
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| unexpected("ZRANGE"))?,
                None => return Err(unexpected("ZRANGE")),
            };
            match String::from_utf8(member) {
                Ok(member) => entries.push((member, score)),
                Err(not_text) => junk.push(not_text.into_bytes()),
            }
        }
        if !junk.is_empty() {
            tracing::warn!(
                members = junk.len(),
                "user index holds members that are not session ids; removing them"
            );
        }
        Ok((entries, junk))
    }

    /// The listing metadata of each session, read concurrently (one `HMGET`
    /// each; on a standalone server they share one pipelined connection).
    pub(crate) async fn fetch_infos(
        &self,
        conn: &Conn<'_>,
        ids: &[SessionId],
    ) -> Result<Vec<Result<Listed, StoreError>>, StoreError> {
        let reads = ids.iter().map(|id| {
            let mut conn = conn.clone();
            let mut cmd = redis::cmd("HMGET");
            self.inner.keys.write_session(id, &mut cmd);
            cmd.arg(&codec::INFO_FIELDS[..]);
            async move { conn.send(&cmd).await }
        });
        let replies = join_all(reads).await;
        let mut out = Vec::with_capacity(ids.len());
        for (id, reply) in ids.iter().zip(replies) {
            let reply = match reply {
                Ok(reply) => reply,
                // A key of another type: this session is corrupt, the
                // listing goes on.
                Err(e) => match wrong_type(&e) {
                    Some(corrupt) => {
                        out.push(Err(corrupt));
                        continue;
                    }
                    None => return Err(self.err(e)),
                },
            };
            let values = reply::array(reply)
                .and_then(|values| values.into_iter().map(reply::bytes).collect())
                .ok_or_else(|| unexpected("HMGET"))?;
            out.push(codec::decode_info(*id, values));
        }
        Ok(out)
    }

    /// `list_for_user`: `ZRANGE`, the sessions' metadata, then (only when
    /// needed) one script that removes stale entries and raises scores that
    /// lag behind their session's expiry.
    pub(crate) async fn user_sessions(&self, user: &str) -> Result<Vec<SessionInfo>, StoreError> {
        let deadline = self.deadline();
        let now = self.now();
        let mut conn = self.conn().await?;
        let index = self.inner.keys.user(user);
        let (entries, junk) = self.index_entries(&mut conn, &index).await?;
        // Entries naming no session id; those naming a session read as
        // expired or bound to someone else, with the highest score at which
        // they may still go (see `IndexChange::outdated`); and those whose
        // session was not found, which may be a login half done.
        let (mut wrong, mut outdated, mut missing) = (Vec::new(), Vec::new(), Vec::new());
        let mut known = Vec::with_capacity(entries.len());
        for (member, score) in entries {
            match member.parse::<SessionId>() {
                Ok(id) => known.push((id, member, score)),
                Err(_) => wrong.push(member),
            }
        }
        let ids: Vec<SessionId> = known.iter().map(|(id, ..)| *id).collect();
        let found = self.fetch_infos(&conn, &ids).await?;
        let mut items = Vec::with_capacity(ids.len());
        let mut raise: Vec<IndexEntry> = Vec::new();
        for ((id, member, score), found) in known.into_iter().zip(found) {
            match found {
                Ok(Listed::Found { info, user: owner })
                    if owner.as_deref() == Some(user) && info.expires_at > now =>
                {
                    let expires = info.expires_at.as_millis();
                    #[allow(clippy::cast_precision_loss)] // scores are doubles in Redis too
                    if (expires as f64) > score {
                        raise.push((expires.to_string(), member));
                    }
                    items.push(info);
                }
                Ok(Listed::Missing) => missing.push(member),
                Ok(Listed::Found { user: owner, .. }) => {
                    // An expired session's entry goes only while scored at
                    // or before now: a refresh racing this listing (another
                    // server) moves the expiry past now, the score first.
                    #[allow(clippy::cast_precision_loss)] // scores are doubles in Redis too
                    let cap = if owner.as_deref() == Some(user) {
                        score.min(now.as_millis() as f64)
                    } else {
                        score
                    };
                    outdated.push((cap.to_string(), member));
                }
                Err(e) => {
                    tracing::warn!(session = %id.short(), error = %e,
                        "user index names a session that does not decode; not listed");
                }
            }
        }
        if (!wrong.is_empty()
            || !junk.is_empty()
            || !outdated.is_empty()
            || !missing.is_empty()
            || !raise.is_empty())
            && let Err(e) = self
                .update_index(
                    "list_for_user",
                    &mut conn,
                    deadline,
                    &index,
                    IndexChange {
                        removed: &wrong,
                        junk: &junk,
                        stale: &missing,
                        outdated: &outdated,
                        added: &raise,
                        only_existing: true,
                        ..IndexChange::default()
                    },
                )
                .await
        {
            tracing::debug!(error = %e, "user index cleanup failed; retried by the next listing");
        }
        sort_most_recent_first(&mut items);
        Ok(items)
    }

    /// `delete_for_user`: `ZRANGE`, one delete script per session (each
    /// checks that the session is bound to this user), then one script that
    /// removes the handled entries.
    pub(crate) async fn revoke_user(
        &self,
        user: &str,
        keep: Option<&SessionId>,
    ) -> Result<usize, StoreError> {
        let deadline = self.deadline();
        let now = self.now();
        let mut conn = self.conn().await?;
        let index = self.inner.keys.user(user);
        let keep = keep.map(SessionId::to_string);
        let (entries, junk) = self.index_entries(&mut conn, &index).await?;
        let members: Vec<String> = entries
            .into_iter()
            .map(|(member, _)| member)
            .filter(|member| Some(member) != keep.as_ref())
            .collect();
        let ids: Vec<Option<SessionId>> = members.iter().map(|m| m.parse().ok()).collect();
        // Whatever the outcomes, even with the caller gone: the deletes may run.
        let known: Vec<SessionId> = ids.iter().flatten().copied().collect();
        let forget = self.forget_on_drop(&known);
        let script = &self.inner.scripts.delete;
        let deletes = ids.iter().map(|id| {
            let mut conn = conn.clone();
            let cmd = id.map(|id| self.delete_command(&id, Some(user), now));
            async move {
                let Some(cmd) = cmd else {
                    // Not a session id: nothing to delete, just drop the entry.
                    return Ok(Value::Array(vec![Value::Int(0)]));
                };
                self.eval("delete_for_user", &mut conn, script, &cmd, deadline)
                    .await
            }
        });
        let results = join_all(deletes).await;
        drop(forget);
        let mut deleted = 0;
        // Entries of sessions deleted here, and of sessions not found: the
        // latter may be a login half done. (The script's answer does not
        // tell a missing session from one bound to someone else, or a
        // member that is no id: those are kept too while a marker lives.)
        let (mut deleted_entries, mut missing_entries) = (Vec::new(), Vec::new());
        let mut failure = None;
        for (member, result) in members.into_iter().zip(results) {
            match result {
                Ok(reply) => {
                    let items =
                        reply::array(reply).ok_or_else(|| unexpected("the delete script"))?;
                    let live = items
                        .first()
                        .and_then(reply::int)
                        .ok_or_else(|| unexpected("the delete script"))?;
                    deleted += usize::from(live == 1);
                    match items.len() {
                        1 => missing_entries.push(member),
                        _ => deleted_entries.push(member),
                    }
                }
                Err(e) => failure = Some(e),
            }
        }
        if !(deleted_entries.is_empty() && missing_entries.is_empty() && junk.is_empty())
            && let Err(e) = self
                .update_index(
                    "delete_for_user",
                    &mut conn,
                    deadline,
                    &index,
                    IndexChange {
                        trim: Some(now),
                        removed: &deleted_entries,
                        junk: &junk,
                        stale: &missing_entries,
                        ..IndexChange::default()
                    },
                )
                .await
        {
            tracing::debug!(error = %e, "user index cleanup failed; retried by the next listing");
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(deleted),
        }
    }
}
