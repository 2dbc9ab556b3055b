//! Changing what a logged-in user may do, in their live sessions.

use std::collections::HashSet;

use super::SessionService;
use super::users::MAX_REVOKE_PASSES;
use crate::{SessionError, SessionId, StoreError};

impl SessionService {
    /// Sets the permissions of every live session of `user_id` in place: a
    /// role given or taken away holds from each session's next request,
    /// without logging the user out (where
    /// [`revoke_all`](Self::revoke_all) would). Returns how many sessions
    /// changed; those that already hold exactly `permissions` are left
    /// alone.
    ///
    /// A request that loaded its session before the change and rotates it
    /// ([`Session::rotate`](crate::Session::rotate)) re-reads the stored
    /// binding just before the move, so a change made before that re-read
    /// moves with the session. One made between the re-read and the move's
    /// write, or a login (which writes the binding the app gave it), can
    /// still leave a session with other permissions: so the user's sessions
    /// are read again after each pass, and another pass made while one of
    /// them still differs (a few at most). A move written after the last
    /// pass's listing, in that short window, keeps what it read; revoke the
    /// user's sessions instead where that must not happen.
    ///
    /// [`StoreError::Unsupported`] for a store without
    /// [`Capabilities::rebind`](crate::Capabilities::rebind) (a client-side
    /// store, whose sessions live in their cookies, or a store of your
    /// own).
    ///
    /// A session that cannot be changed (its record would grow past the
    /// store's limit, [`StoreError::TooLarge`], say) does not stop the
    /// others: they change, that one is not tried again, and the first
    /// such error is returned once done, with a warning counting the
    /// sessions changed and those that failed. It keeps its old
    /// permissions, which a count would hide. An error saying the store is
    /// unavailable ([`SessionError::is_unavailable`]), or one listing the
    /// user's sessions, stops the change at once and is returned: the
    /// sessions not reached yet keep their old permissions too. Where a
    /// permission taken away must not outlive an error, follow it with
    /// [`revoke_all`](Self::revoke_all), which logs the user out instead.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), session_core::SessionError> {
    /// use session_core::{Binding, Key, MemoryStore, SessionService};
    ///
    /// let service = SessionService::builder()
    ///     .store(MemoryStore::new())
    ///     .key(Key::generate())
    ///     .build()?;
    /// let id = service.create_session(Binding::user("ada")).await?;
    /// assert_eq!(service.set_permissions("ada", ["admin"]).await?, 1);
    /// let binding = service.record(&id).await?.and_then(|r| r.binding);
    /// assert_eq!(binding.map(|b| b.permissions), Some(vec!["admin".to_owned()]));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn set_permissions<I, S>(
        &self,
        user_id: &str,
        permissions: I,
    ) -> Result<usize, SessionError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.require_server_side("setting a user's permissions")?;
        if !self.store().capabilities().rebind {
            return Err(StoreError::Unsupported {
                store: self.store().name(),
                operation: "rebind",
            }
            .into());
        }
        let permissions: Vec<String> = permissions.into_iter().map(Into::into).collect();
        let mut run = PermissionsRun::default();
        for _ in 0..MAX_REVOKE_PASSES {
            let before = run.changed;
            if let Err(error) = self.permissions_pass(user_id, &permissions, &mut run).await {
                // Those this pass changed before the error count too.
                if run.changed > 0 || !run.failed.is_empty() {
                    tracing::warn!(%error, changed = run.changed, failed = run.failed.len(), "set the permissions of some of a user's sessions, but a pass failed");
                }
                return Err(error);
            }
            if run.changed == before {
                break;
            }
        }
        let changed = run.changed;
        if let Some(error) = run.first_error {
            tracing::warn!(%error, changed, failed = run.failed.len(), "set the permissions of some of a user's sessions, but could not change others");
            return Err(error);
        }
        tracing::info!(changed, "set the permissions of a user's sessions");
        Ok(changed)
    }

    /// One pass over the user's live sessions: rebinds each whose
    /// permissions differ, counting each in `run` as it goes (so a pass
    /// that stops half-way has counted what it did). An error of one
    /// session is kept in `run` and the pass goes on; one saying the store
    /// is unavailable, or the listing's, ends the pass.
    async fn permissions_pass(
        &self,
        user_id: &str,
        permissions: &[String],
        run: &mut PermissionsRun,
    ) -> Result<(), SessionError> {
        for info in self.store().list_for_user(user_id).await? {
            // Refused once, refused again: later passes are for the
            // sessions rotations moved meanwhile.
            if run.failed.contains(&info.id) {
                continue;
            }
            match self
                .set_session_permissions(info.id, user_id, permissions)
                .await
            {
                Ok(true) => run.changed += 1,
                Ok(false) => {}
                Err(error) if error.is_unavailable() => return Err(error),
                Err(error) => {
                    run.failed.insert(info.id);
                    run.first_error.get_or_insert(error);
                }
            }
        }
        Ok(())
    }

    /// Rebinds session `id` of `user_id` to `permissions`; `false` when it
    /// is gone, belongs to another user or holds them already.
    async fn set_session_permissions(
        &self,
        id: SessionId,
        user_id: &str,
        permissions: &[String],
    ) -> Result<bool, SessionError> {
        let now = self.clock().now();
        let Some(record) = self.live_record(id, now).await? else {
            return Ok(false);
        };
        let Some(mut binding) = record.binding.filter(|b| b.user_id == user_id) else {
            return Ok(false);
        };
        if binding.permissions == permissions {
            return Ok(false);
        }
        binding.permissions = permissions.to_vec();
        Ok(self.store().rebind(&id, &binding).await?)
    }
}

/// What [`SessionService::set_permissions`] did so far, over its passes.
#[derive(Default)]
struct PermissionsRun {
    /// Sessions changed.
    changed: usize,
    /// Sessions that could not be changed, not tried again.
    failed: HashSet<SessionId>,
    /// The first of their errors, returned once the passes are done.
    first_error: Option<SessionError>,
}
