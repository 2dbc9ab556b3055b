//! authsessions-style calls: sessions by id and by user, outside a request.

use super::SessionService;
use super::load::Lookup;
use crate::{Binding, Page, PageRequest, SessionError, SessionId, SessionInfo, SessionRecord};

/// Passes of [`SessionService::revoke_all`] at most: sessions rotating
/// during one pass are caught by the next.
pub(super) const MAX_REVOKE_PASSES: usize = 4;

impl SessionService {
    /// Creates a session bound to a user right away (authsessions'
    /// `createSession`) and returns its id; [`token_for`](Self::token_for)
    /// gives the token to hand out.
    /// [`StoreError::Unsupported`](crate::StoreError::Unsupported) with a
    /// client-side store, whose sessions exist only in their cookies.
    pub async fn create_session(&self, binding: Binding) -> Result<SessionId, SessionError> {
        let now = self.clock().now();
        let expires_at = self.expiry().for_login(now, Some(&binding));
        let mut record = SessionRecord::new(SessionId::generate(), now, expires_at);
        record.binding = Some(Box::new(binding));
        let record = self.create_with_fresh_id(record).await?;
        if let Some(user_id) = record.user_id() {
            self.hold_to_user_limit(user_id, &record).await;
        }
        Ok(record.id)
    }

    /// The signed token for a session id (cookie value or bearer token).
    pub fn token_for(&self, id: &SessionId) -> String {
        self.signer().sign_id(id)
    }

    /// The session id in a token; `None` when the token does not verify.
    /// Only the signature is checked: the session it names may be gone
    /// (revoked, expired); [`record`](Self::record) says whether it lives.
    pub fn session_id_from_token(&self, token: &str) -> Option<SessionId> {
        self.signer().verify_id(token).ok().map(|v| v.value)
    }

    /// The session id behind an `Authorization: Bearer <token>` header value
    /// (authsessions' `getSessionIdFromAuthToken`); as
    /// [`session_id_from_token`](Self::session_id_from_token), only the
    /// signature is checked.
    pub fn session_id_from_bearer(&self, header: Option<&str>) -> Option<SessionId> {
        self.signer().session_id_from_bearer(header)
    }

    /// The `Authorization` header value for a session (authsessions' `getAuthTokenForSessionId`).
    pub fn bearer_for(&self, id: &SessionId) -> String {
        self.signer().bearer_for(id)
    }

    /// The live record of a session id. A stored record that does not decode
    /// is logged and treated as no session, and one past the policy's
    /// absolute limit is removed, as a request's load does.
    ///
    /// [`StoreError::Unsupported`](crate::StoreError::Unsupported) with a client-side store
    /// ([`CookieStore`](crate::CookieStore)): its sessions are in their
    /// cookies, so an id alone finds nothing, and "no session" would be
    /// wrong. [`user_id`](Self::user_id), [`meta`](Self::meta) and
    /// [`revoke`](Self::revoke) answer the same.
    pub async fn record(&self, id: &SessionId) -> Result<Option<SessionRecord>, SessionError> {
        self.require_server_side("looking a session up by id")?;
        self.live_record(*id, self.clock().now()).await
    }

    /// The user a session belongs to; `None` for unknown, expired or
    /// anonymous sessions. Unsupported with a client-side store (see
    /// [`record`](Self::record)).
    pub async fn user_id(&self, id: &SessionId) -> Result<Option<String>, SessionError> {
        Ok(self
            .record(id)
            .await?
            .and_then(|r| r.binding.map(|b| b.user_id)))
    }

    /// A session's meta. Unsupported with a client-side store (see
    /// [`record`](Self::record)).
    pub async fn meta(&self, id: &SessionId) -> Result<Option<serde_json::Value>, SessionError> {
        Ok(self
            .record(id)
            .await?
            .and_then(|r| r.binding.and_then(|b| b.meta)))
    }

    /// Deletes a session; deleting an unknown id is a no-op returning `false`.
    /// A client-side store keeps nothing to delete and answers `false`: the
    /// cookie stays valid until it expires (a logout clears it in the
    /// browser that logs out). For the request's own session, a logout
    /// also calls [`SessionState::destroy`](crate::SessionState::destroy)
    /// on its cell, so that persist clears the cookie and writes nothing
    /// back (see [`web`](crate::web)).
    pub async fn destroy_session(&self, id: &SessionId) -> Result<bool, SessionError> {
        Ok(self.store().delete(id).await?)
    }

    /// A user's live sessions, most recently used first: those a request
    /// could still load, so none past the absolute limit either.
    pub async fn list_for_user(&self, user_id: &str) -> Result<Vec<SessionInfo>, SessionError> {
        let now = self.clock().now();
        let mut items = self.store().list_for_user(user_id).await?;
        items.retain(|i| !self.expiry().is_info_expired(i, now));
        Ok(items)
    }

    /// Revokes one of a user's sessions; `false` (and nothing changes) when the
    /// id is unknown or belongs to someone else. [`StoreError::Unsupported`](crate::StoreError::Unsupported)
    /// with a client-side store, which cannot revoke a cookie it handed out.
    ///
    /// A session a login or rotation moved meanwhile (its id taken from a
    /// listing just before, say) is followed to its new id, as a logout is.
    pub async fn revoke(&self, user_id: &str, id: &SessionId) -> Result<bool, SessionError> {
        self.require_server_side("revoke")?;
        let mut id = *id;
        for _ in 0..=super::moves::MAX_MOVES_FOLLOWED {
            // One lookup tells the owner, or the id a move went to.
            let to = match self.lookup(id, self.clock().now()).await? {
                Lookup::Live(record) if record.user_id() != Some(user_id) => return Ok(false),
                Lookup::Live(_) if self.store().delete(&id).await? => {
                    tracing::info!(session = %id.short(), "session revoked");
                    return Ok(true);
                }
                // Gone between the lookup and the delete: moved, maybe.
                Lookup::Live(_) => self.moved_to(id).await?,
                Lookup::Moved(to) => to,
                Lookup::Absent | Lookup::Corrupt(_) => None,
            };
            match to {
                Some(to) => id = to,
                None => return Ok(false),
            }
        }
        Ok(false)
    }

    /// Revokes every session of a user except `keep`; returns how many went,
    /// counting those past the absolute or idle limit that the store still
    /// held (which [`list_for_user`](Self::list_for_user) leaves out).
    ///
    /// A store may revoke from a snapshot of the user's index, and a
    /// rotation running meanwhile moves a session to an id the snapshot
    /// lacks, deleting the id it has: so the user's listing is read after
    /// each pass, and another pass made while it shows sessions (a few at
    /// most), keeping the id a rotation moved `keep` to. A session a login
    /// creates meanwhile may go too.
    ///
    /// An error of the first pass is returned. Once it deleted sessions, a
    /// failure of that check is logged and the count returned: those
    /// sessions are gone, which an error would hide. A failure of a later
    /// pass is returned: the check found a session of the user left, and a
    /// count would read as "revoked" while it stays logged in.
    pub async fn revoke_all(
        &self,
        user_id: &str,
        keep: Option<&SessionId>,
    ) -> Result<usize, SessionError> {
        let mut keep = keep.copied();
        let mut revoked = self.store().delete_for_user(user_id, keep.as_ref()).await?;
        for _ in 1..MAX_REVOKE_PASSES {
            match self.left_after_pass(user_id, &mut keep).await {
                Ok(false) => break,
                Ok(true) => {}
                // Nothing deleted: the error hides nothing.
                Err(error) if revoked == 0 => return Err(error),
                Err(error) => {
                    tracing::warn!(%error, revoked, "revoked a user's sessions, but could not check for sessions a rotation moved meanwhile");
                    break;
                }
            }
            // A session of the user is left: if it cannot go, the caller
            // must know, not read a count as "revoked".
            match self.store().delete_for_user(user_id, keep.as_ref()).await {
                Ok(n) => revoked += n,
                Err(error) => {
                    tracing::warn!(%error, revoked, "revoked some of a user's sessions, but a further pass for sessions left failed");
                    return Err(error.into());
                }
            }
        }
        tracing::info!(
            revoked,
            kept = keep.map(|id| tracing::field::display(id.short())),
            "revoked a user's sessions"
        );
        Ok(revoked)
    }

    /// Whether the user's listing shows sessions other than `keep` after a
    /// pass of [`revoke_all`](Self::revoke_all); `keep` follows a rotation
    /// that moved it meanwhile.
    async fn left_after_pass(
        &self,
        user_id: &str,
        keep: &mut Option<SessionId>,
    ) -> Result<bool, SessionError> {
        let left = self.store().list_for_user(user_id).await?;
        if left.iter().all(|i| Some(i.id) == *keep) {
            return Ok(false);
        }
        if let Some(kept) = *keep
            && !left.iter().any(|i| i.id == kept)
            && let Some(to) = self.moved_to(kept).await?
        {
            *keep = Some(to);
        }
        Ok(true)
    }

    /// Every live session, a page at a time (authsessions' `listSessions`).
    /// The markers moved sessions leave for a while under their old ids
    /// (see [`SessionServiceBuilder::moved_grace`](super::SessionServiceBuilder::moved_grace))
    /// are no sessions and are left out too. Sessions past the policy's absolute limit, which the store may still
    /// hold, are left out, so a page may hold fewer than its size, even
    /// none: go on while `next` is set.
    pub async fn list(&self, page: PageRequest) -> Result<Page<SessionInfo>, SessionError> {
        let now = self.clock().now();
        let mut page = self.store().list(page).await?;
        page.items
            .retain(|i| !i.is_moved_marker() && !self.expiry().is_info_expired(i, now));
        Ok(page)
    }

    /// `Unsupported` for a client-side store, checked before any lookup:
    /// its store finds nothing by id, which would read as "unknown".
    pub(super) fn require_server_side(&self, operation: &'static str) -> Result<(), SessionError> {
        match self.store().client_side() {
            Some(_) => Err(self.store().unsupported(operation).into()),
            None => Ok(()),
        }
    }
}
