//! Closing a moved session's old record at the revision a login read it
//! at: a save another request makes to it meanwhile is either carried over
//! to the new record or refused, never confirmed and then lost with it.

use super::SessionService;
use crate::{
    FieldMap, SaveOutcome, SessionError, SessionId, SessionPatch, SessionRecord, StoreError,
};

/// Attempts at closing the old record while other requests keep saving it;
/// after them the move goes ahead as without a fence.
const CLOSE_ATTEMPTS: usize = 16;

/// What a rotation's re-read of the old record found: its revision, its
/// user (whose index entry moves with the expiry), and the request's
/// changes to apply again if another save lands first.
pub(super) struct Fence {
    pub(super) revision: u64,
    pub(super) user_id: Option<String>,
    pub(super) changes: Box<SessionPatch>,
}

impl SessionService {
    /// Expires the old record, on condition that it is still at the
    /// fence's revision (a compare-and-set save): from then on no save to
    /// it is confirmed. A save that landed since the re-read is carried to
    /// the new `record` first, and the close is tried again. `true` when
    /// closed; `false` when the old record is gone, the store has no
    /// compare-and-set, or others kept saving it (then the delete that
    /// follows is the close, with its window).
    pub(super) async fn close_old(
        &self,
        record: &mut SessionRecord,
        old: SessionId,
        mut fence: Fence,
    ) -> Result<bool, SessionError> {
        if !self.store().capabilities().compare_and_set {
            return Ok(false);
        }
        for _ in 0..CLOSE_ATTEMPTS {
            let now = self.clock().now();
            let close = SessionPatch {
                // Long past, not now: a save that read the store's clock
                // just before this lands must find the record expired too.
                expires_at: Some(crate::Timestamp::EPOCH),
                last_seen: now,
                expected_revision: Some(fence.revision),
                user_id: fence.user_id.clone(),
                ..SessionPatch::default()
            };
            match self.store().save(&old, &close).await? {
                SaveOutcome::Saved => return Ok(true),
                SaveOutcome::Missing => return Ok(false),
                SaveOutcome::Conflict { .. } => {}
            }
            // Read as the rebase read it: a record gone (or unreadable) is
            // no move's business any more.
            let mut current = match self.store().load(&old).await {
                Ok(Some(current)) => current,
                Ok(None) | Err(StoreError::Corrupt(_)) => return Ok(false),
                Err(error) => return Err(error.into()),
            };
            fence.revision = current.revision;
            current.apply(&fence.changes);
            let update = replacing(record, &current, now);
            if self.store().save(&record.id, &update).await? != SaveOutcome::Saved {
                // The new session went meanwhile (revoked): nothing to carry to.
                return Ok(false);
            }
            (record.fields, record.flash) = (current.fields, current.flash);
        }
        tracing::warn!(session = %old.short(), "the old session kept changing during a login; moving it without closing it first");
        Ok(false)
    }
}

/// The patch that makes `record`'s data and flash those of `current`.
fn replacing(
    record: &SessionRecord,
    current: &SessionRecord,
    now: crate::Timestamp,
) -> SessionPatch {
    let removed_fields = record
        .fields
        .names()
        .filter(|name| !current.fields.contains(name))
        .map(Box::from)
        .collect();
    let taken_flash: FieldMap = record
        .flash
        .iter()
        .filter(|(name, _)| !current.flash.contains(name))
        .collect();
    SessionPatch {
        set_fields: current.fields.clone(),
        removed_fields,
        set_flash: current.flash.clone(),
        taken_flash,
        last_seen: now,
        ..SessionPatch::default()
    }
}
