//! The per-user session limit a login holds its user to (see
//! [`SessionServiceBuilder::max_sessions_per_user`](super::SessionServiceBuilder::max_sessions_per_user)).

use super::SessionService;
use super::load::Lookup;
use super::moves::MAX_MOVES_FOLLOWED;
use crate::{SessionError, SessionId, SessionRecord};

impl SessionService {
    /// Ends a user's least recently used sessions beyond
    /// [`max_sessions_per_user`](super::SessionServiceBuilder::max_sessions_per_user),
    /// never `new`, the session just created for them. A failure is logged:
    /// the login it follows stands.
    ///
    /// Sessions created after `new` are left alone too: they are logins
    /// running at the same time (a form sent twice), each of which holds
    /// the user to the limit in turn. Ending them would let two concurrent
    /// logins end each other's session and leave the user with none; this
    /// way the last login's session is the one that stays. (Between app
    /// servers, "after" is as good as their clocks' agreement.)
    pub(super) async fn hold_to_user_limit(&self, user_id: &str, new: &SessionRecord) {
        let Some(max) = self.inner.max_sessions_per_user else {
            return;
        };
        let sessions = match self.list_for_user(user_id).await {
            Ok(sessions) => sessions,
            Err(error) => {
                tracing::warn!(%error, "could not list a user's sessions to hold them to the per-user limit; none ended");
                return;
            }
        };
        // Most recently used first: the new one and the `max - 1` next stay.
        let beyond = sessions
            .iter()
            .filter(|s| s.id != new.id)
            .skip(max - 1)
            .filter(|s| s.created_at <= new.created_at);
        let (mut ended, mut failed) = (0usize, 0usize);
        for session in beyond {
            let outcome = match self.store().delete(&session.id).await {
                Ok(true) => Ok(true),
                // Gone since the listing: a logout, or a move to follow.
                Ok(false) => self.end_moved(user_id, session.id, new).await,
                Err(error) => Err(error.into()),
            };
            match outcome {
                Ok(true) => ended += 1,
                Ok(false) => {}
                Err(error) => {
                    failed += 1;
                    tracing::warn!(%error, "could not end a session beyond the per-user limit");
                }
            }
        }
        if ended + failed > 0 {
            tracing::info!(
                ended,
                failed,
                max,
                "a login took a user past the per-user session limit; the least recently used sessions ended"
            );
        }
    }

    /// A session the limit was to end, `id`, was gone: when a rotation moved
    /// it meanwhile (another request of that browser), the session it moved
    /// to is ended instead, unless it is `new`, another user's, or created
    /// after `new` (a login of that browser running at the same time,
    /// which holds the user to the limit itself). Whether one was ended.
    async fn end_moved(
        &self,
        user_id: &str,
        mut id: SessionId,
        new: &SessionRecord,
    ) -> Result<bool, SessionError> {
        for _ in 0..MAX_MOVES_FOLLOWED {
            let Some(to) = self.moved_to(id).await? else {
                return Ok(false);
            };
            if to == new.id {
                return Ok(false);
            }
            match self.lookup(to, self.clock().now()).await? {
                Lookup::Live(record)
                    if record.user_id() != Some(user_id) || record.created_at > new.created_at =>
                {
                    return Ok(false);
                }
                Lookup::Live(_) if self.store().delete(&to).await? => return Ok(true),
                // Moved again meanwhile: followed.
                Lookup::Live(_) | Lookup::Moved(_) => {}
                Lookup::Absent | Lookup::Corrupt(_) => return Ok(false),
            }
            id = to;
        }
        Ok(false)
    }
}
