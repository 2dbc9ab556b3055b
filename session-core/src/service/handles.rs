//! A user's sessions named by handles, for a page that lists and revokes
//! them without showing their ids.

use super::SessionService;
use crate::handle::HandleKeys;
use crate::{ListedSession, SessionError, SessionHandle, SessionId};

impl SessionService {
    /// The [`SessionHandle`] a page shows for session `id`.
    pub fn handle_of(&self, id: &SessionId) -> SessionHandle {
        HandleKeys::new(self.signer().keys()).handle(id)
    }

    /// A user's live sessions as [`list_for_user`](Self::list_for_user)
    /// gives them, most recently used first, each named by its handle in
    /// place of its id, and the one whose id is `current` (the request's
    /// own) marked.
    pub async fn list_with_handles(
        &self,
        user_id: &str,
        current: Option<&SessionId>,
    ) -> Result<Vec<ListedSession>, SessionError> {
        let keys = HandleKeys::new(self.signer().keys());
        let listed = self.list_for_user(user_id).await?;
        Ok(listed
            .into_iter()
            .map(|info| ListedSession {
                // Sooner than stored under a shortened lifetime.
                expires_at: self.expiry().info_expires_at(&info),
                handle: keys.handle(&info.id),
                ends_at: self.expiry().ends_at(&info),
                current: Some(&info.id) == current,
                label: info.label,
                meta: info.meta,
                created_at: info.created_at,
                last_seen: info.last_seen,
                cookie_lifetime: info.cookie_lifetime,
            })
            .collect())
    }

    /// The id of the user's live session that `handle` names; `None` when
    /// none of theirs does (another user's handle included).
    pub async fn find_by_handle(
        &self,
        user_id: &str,
        handle: &SessionHandle,
    ) -> Result<Option<SessionId>, SessionError> {
        let keys = HandleKeys::new(self.signer().keys());
        let listed = self.list_for_user(user_id).await?;
        Ok(listed
            .into_iter()
            .map(|info| info.id)
            .find(|id| keys.names(handle, id)))
    }

    /// Revokes the user's session that `handle` names, as
    /// [`revoke`](Self::revoke) does by id; `false` (and nothing changes)
    /// when none of the user's live sessions has that handle.
    /// [`StoreError::Unsupported`](crate::StoreError::Unsupported) with a
    /// client-side store, which keeps no listing.
    pub async fn revoke_by_handle(
        &self,
        user_id: &str,
        handle: &SessionHandle,
    ) -> Result<bool, SessionError> {
        match self.find_by_handle(user_id, handle).await? {
            Some(id) => self.revoke(user_id, &id).await,
            None => Ok(false),
        }
    }
}
