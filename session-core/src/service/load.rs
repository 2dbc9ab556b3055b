use super::{InvalidDataPolicy, SessionService};
use crate::data::SessionData;
use crate::state::{SessionCell, SessionState, TokenStatus};
use crate::token::Verified;
use crate::{Session, SessionError, SessionId, StoreError, Timestamp};

impl SessionService {
    /// Loads the session a token names. A missing, malformed, tampered,
    /// expired or unknown token gives an empty session, never an error; only a
    /// failing store is an error. Nothing is created here: a session comes into
    /// being when persist finds something to write.
    pub async fn load(&self, token: Option<&str>) -> Result<SessionCell, SessionError> {
        self.load_first(token).await
    }

    /// Like [`load`](Self::load) for a request that carries several candidate
    /// tokens (cookies of the same name for other paths or domains): the first
    /// that verifies is loaded; each is verified once.
    pub async fn load_first<'t>(
        &self,
        tokens: impl IntoIterator<Item = &'t str>,
    ) -> Result<SessionCell, SessionError> {
        let now = self.clock().now();
        let mut presented = false;
        let client = self.store().client_side();
        for token in tokens {
            presented = true;
            match client {
                Some(client) => match client.open(self.signer(), token) {
                    Ok(verified) => {
                        return Ok(self.loaded(verified.value, verified.key_index, now));
                    }
                    Err(error) => tracing::debug!(%error, "session cookie refused"),
                },
                None => match self.signer().verify_id(token) {
                    Ok(verified) => return self.load_verified_at(verified, now).await,
                    Err(error) => tracing::debug!(%error, "session token refused"),
                },
            }
        }
        let status = if presented {
            TokenStatus::Rejected
        } else {
            TokenStatus::Absent
        };
        Ok(SessionCell::new(SessionState::empty(now, status)))
    }

    /// Loads the session of an id whose token was verified by the key at `key_index`.
    pub async fn load_verified(
        &self,
        verified: Verified<SessionId>,
    ) -> Result<SessionCell, SessionError> {
        self.load_verified_at(verified, self.clock().now()).await
    }

    /// [`load_verified`](Self::load_verified) with the clock read once by the caller.
    async fn load_verified_at(
        &self,
        verified: Verified<SessionId>,
        now: Timestamp,
    ) -> Result<SessionCell, SessionError> {
        let id = verified.value;
        let rejected = || {
            Ok(SessionCell::new(SessionState::empty(
                now,
                TokenStatus::Rejected,
            )))
        };
        let record = match self.store().load_at(&id, now).await {
            Ok(record) => record,
            Err(StoreError::Corrupt(reason)) => {
                tracing::warn!(session = %id.short(), %reason, "stored session is corrupt; treating it as absent");
                return rejected();
            }
            Err(error) => return Err(error.into()),
        };
        let Some(record) = record else {
            tracing::debug!(session = %id.short(), "no live session for a valid token");
            return rejected();
        };
        if self.expiry().is_expired(&record, now) {
            // The store's own expiry lagged (clock skew or an absolute limit).
            tracing::debug!(session = %id.short(), "loaded an expired session; removing it");
            if let Err(error) = self.store().delete(&id).await {
                tracing::warn!(session = %id.short(), %error, "could not remove an expired session");
            }
            return rejected();
        }
        Ok(self.loaded(record, verified.key_index, now))
    }

    /// The cell for a live record, with its refresh decided.
    fn loaded(
        &self,
        record: crate::SessionRecord,
        key_index: usize,
        now: crate::Timestamp,
    ) -> SessionCell {
        if self.expiry().is_expired(&record, now) {
            return SessionCell::new(SessionState::empty(now, TokenStatus::Rejected));
        }
        let refresh = self.expiry().refresh(&record, now);
        SessionCell::new(SessionState::loaded(now, key_index, record, refresh))
    }

    /// The typed view of a loaded session. Stored data that fails to decode or
    /// validate is logged with the session id and, under the default
    /// [`InvalidDataPolicy::Discard`], replaced by defaults while the stored
    /// record is left untouched.
    pub fn typed<T: SessionData>(&self, cell: &SessionCell) -> Result<Session<T>, SessionError> {
        match Session::from_cell(cell.clone()) {
            Ok(session) => Ok(session),
            Err(error) => {
                let id = cell.lock().record().map(|r| r.id.short());
                tracing::warn!(session = ?id, %error, "stored session data is invalid");
                match self.invalid_data_policy() {
                    InvalidDataPolicy::Fail => Err(error.into()),
                    InvalidDataPolicy::Discard => {
                        cell.lock().detach();
                        Ok(Session::with_data(cell.clone(), T::default()))
                    }
                }
            }
        }
    }

    /// Loads and returns the typed session in one call.
    pub async fn get<T: SessionData>(
        &self,
        token: Option<&str>,
    ) -> Result<Session<T>, SessionError> {
        let cell = self.load(token).await?;
        self.typed(&cell)
    }
}
