//! Changing what a logged-in user may do, in their live sessions.

use super::SessionService;
use super::users::MAX_REVOKE_PASSES;
use crate::{SessionError, StoreError};

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
    /// own). An error after some sessions changed is returned: the others
    /// keep their old permissions, which a count would hide.
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
        let mut changed = 0;
        for _ in 0..MAX_REVOKE_PASSES {
            let before = changed;
            if let Err(error) = self
                .permissions_pass(user_id, &permissions, &mut changed)
                .await
            {
                // Those this pass changed before the error count too.
                if changed > 0 {
                    tracing::warn!(%error, changed, "set the permissions of some of a user's sessions, but a pass failed");
                }
                return Err(error);
            }
            if changed == before {
                break;
            }
        }
        tracing::info!(changed, "set the permissions of a user's sessions");
        Ok(changed)
    }

    /// One pass over the user's live sessions: rebinds each whose
    /// permissions differ, counting each in `rebound` as it goes (so a
    /// pass that fails half-way has counted what it did).
    async fn permissions_pass(
        &self,
        user_id: &str,
        permissions: &[String],
        rebound: &mut usize,
    ) -> Result<(), SessionError> {
        for info in self.store().list_for_user(user_id).await? {
            let now = self.clock().now();
            let Some(record) = self.live_record(info.id, now).await? else {
                continue;
            };
            let Some(mut binding) = record.binding.filter(|b| b.user_id == user_id) else {
                continue;
            };
            if binding.permissions == permissions {
                continue;
            }
            binding.permissions = permissions.to_vec();
            if self.store().rebind(&info.id, &binding).await? {
                *rebound += 1;
            }
        }
        Ok(())
    }
}
