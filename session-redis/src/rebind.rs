//! Rebinding a live login: a new binding for the same user (new
//! permissions, label or meta), written in place by one script.

use session_core::{Binding, SessionId, StoreError};

use crate::codec;
use crate::error::unexpected;
use crate::reply;
use crate::store::RedisStore;

impl RedisStore {
    /// `rebind`: one script on the session hash, one round trip (see the
    /// script in [`scripts`](crate::scripts)). This store's cached copy of
    /// the session goes once the call ends (or its caller goes away), unless
    /// the script wrote nothing; other stores' copies go with the
    /// invalidation of the write.
    pub(crate) async fn rebind_session(
        &self,
        id: &SessionId,
        binding: &Binding,
    ) -> Result<bool, StoreError> {
        let json = codec::encode_binding(binding)?;
        // The binding alone over the limit: refused without a round trip
        // (the script measures the record it would leave).
        self.check_size("rebind", json.len())?;
        let cache = self.inner.cache.as_deref();
        let script = &self.inner.scripts.rebind;
        let bytes = 64 + binding.user_id.len() + json.len();
        let mut cmd = script.call(1 + usize::from(cache.is_some()), 4, bytes);
        self.inner.keys.write_session(id, &mut cmd);
        if let Some(cache) = cache {
            // So that another store's save merged into the same
            // invalidation is not taken for that store's own echo.
            self.inner.keys.write_marker(id, cache.writer(), &mut cmd);
        }
        cmd.arg(self.now().as_millis())
            .arg(&binding.user_id)
            .arg(&json)
            .arg(self.inner.max_record_bytes);
        let forget = self.forget_on_drop(std::slice::from_ref(id));
        let outcome = self
            .call("rebind", |mut conn, deadline| async move {
                let reply = self
                    .eval("rebind", &mut conn, script, &cmd, deadline)
                    .await?;
                let mut items = reply::array(reply)
                    .ok_or_else(|| unexpected("the rebind script"))?
                    .into_iter();
                match items.next().as_ref().and_then(reply::int) {
                    Some(0) => Ok(false),
                    Some(1) => Ok(true),
                    Some(3) => Err(Self::damaged(items.next(), "the rebind script")),
                    Some(4) => Err(self.too_large("rebind", items.next(), "the rebind script")),
                    _ => Err(unexpected("the rebind script")),
                }
            })
            .await;
        if matches!(outcome, Ok(false) | Err(StoreError::TooLarge { .. })) {
            // Refused by the script: nothing written, the copy still holds.
            forget.kept();
        }
        outcome
    }
}
