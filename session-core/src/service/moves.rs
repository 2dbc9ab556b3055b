//! Moves: the marker a login or rotation leaves under a key derived from
//! the old id (see [`SessionServiceBuilder::moved_grace`](super::SessionServiceBuilder::moved_grace)),
//! how a load tells a moved session from a gone one, and how a logout or
//! revocation that raced the move follows it.

use std::time::Duration;

use super::SessionService;
use super::load::Lookup;
use crate::{SessionError, SessionId, SessionRecord, StoreError, Timestamp};

/// Moves followed at most by one logout or revocation: a session rotated
/// again and again during one request's work is still found, and a loop of
/// markers (which no move writes) ends.
pub(super) const MAX_MOVES_FOLLOWED: usize = 4;

impl SessionService {
    /// Whether moves leave markers: the clock counts milliseconds, so a
    /// shorter grace would be over at once.
    fn marks_moves(&self) -> bool {
        self.inner.moved_grace >= Duration::from_millis(1)
    }

    /// The marker that tells a late request with `old`'s token from one
    /// whose session expired, lasting the grace from now (the move, not
    /// the request's start: a login may take a while). Its id when written;
    /// a failure is logged, not returned: the move goes ahead without it.
    pub(super) async fn leave_moved_marker(
        &self,
        old: SessionId,
        to: Option<SessionId>,
    ) -> Option<SessionId> {
        if !self.marks_moves() {
            return None;
        }
        let now = self.clock().now();
        let until = now.plus(self.inner.moved_grace);
        let marker = SessionRecord::moved_marker(old, to, now, until);
        match self.store().create(&marker).await {
            Ok(()) => Some(marker.id),
            Err(error) => {
                tracing::warn!(session = %old.short(), %error, "could not mark a moved session's old id");
                None
            }
        }
    }

    /// An id with no record: moved by a login or rotation in another request
    /// when the move's marker is there. A failure to read the marker is
    /// logged and taken as no marker.
    pub(super) async fn absent_or_moved(&self, id: SessionId, now: Timestamp) -> Lookup {
        if !self.marks_moves() {
            return Lookup::Absent;
        }
        match self.store().load_at(&id.moved_marker_id(), now).await {
            Ok(Some(marker)) if marker.is_moved_marker() => Lookup::Moved(marker.moved_to()),
            Ok(_) => Lookup::Absent,
            Err(error) => {
                tracing::warn!(session = %id.short(), %error, "could not look for a moved session's marker");
                Lookup::Absent
            }
        }
    }

    /// The new id the marker of the moved session `id` names, if any. A
    /// marker that does not decode is taken as none.
    pub(super) async fn moved_to(&self, id: SessionId) -> Result<Option<SessionId>, SessionError> {
        if !self.marks_moves() {
            return Ok(None);
        }
        match self.store().load(&id.moved_marker_id()).await {
            Ok(marker) => Ok(marker.and_then(|m| m.moved_to())),
            Err(StoreError::Corrupt(_)) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    /// A logout found its session `id` gone: when a login or rotation of
    /// the logged-in session moved it meanwhile, the session it moved to is
    /// deleted, so the logout ends the session whichever finished first.
    /// A marker that cannot be read is logged and taken as none: the
    /// logout is not failed for what is most likely no move at all.
    pub(super) async fn delete_moved(&self, mut id: SessionId) -> Result<(), SessionError> {
        for _ in 0..MAX_MOVES_FOLLOWED {
            let to = match self.moved_to(id).await {
                Ok(Some(to)) => to,
                Ok(None) => return Ok(()),
                Err(error) => {
                    tracing::warn!(session = %id.short(), %error, "could not look for a move of a logged-out session");
                    return Ok(());
                }
            };
            tracing::debug!(session = %id.short(), to = %to.short(), "logout follows a move of its session");
            if self.store().delete(&to).await? {
                return Ok(());
            }
            id = to;
        }
        Ok(())
    }
}
