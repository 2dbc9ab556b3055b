use super::check::DataCheck;
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
    pub fn load(
        &self,
        token: Option<&str>,
    ) -> impl Future<Output = Result<SessionCell, SessionError>> + Send + '_ {
        self.load_first(token)
    }

    /// Like [`load`](Self::load) for a request that carries several candidate
    /// tokens (cookies of the same name for other paths or domains): the first
    /// that verifies is loaded; each is verified once. When it names a
    /// session that is gone (a stale cookie on a more specific path, say),
    /// the next one that verified is looked up, and so on, among the next
    /// three tokens.
    ///
    /// The tokens are checked when this is called, before the returned future
    /// is first polled; the future only does the store lookup, so it stays
    /// small and does not hold the iterator.
    pub fn load_first<'t>(
        &self,
        tokens: impl IntoIterator<Item = &'t str>,
    ) -> impl Future<Output = Result<SessionCell, SessionError>> + Send + '_ {
        let now = self.clock().now();
        let found = self.first_valid(tokens, now);
        self.load_found(found, now)
    }

    async fn load_found(
        &self,
        found: FirstValid,
        now: Timestamp,
    ) -> Result<SessionCell, SessionError> {
        match found {
            FirstValid::Server(verified, others) => {
                let cell = self.load_verified_at(verified, now).await?;
                if others.is_empty() {
                    return Ok(cell);
                }
                // Boxed: rare, and the common future stays small.
                Box::pin(self.load_others(cell, others, now)).await
            }
            FirstValid::Client(verified) => self.loaded(verified.value, verified.key_index, now),
            FirstValid::None(status) => Ok(SessionCell::new(SessionState::empty(now, status))),
        }
    }

    /// After the first verified id named a session that is gone: the next
    /// verified id whose session loads, else the first one's empty cell.
    async fn load_others(
        &self,
        first: SessionCell,
        others: Vec<Verified<SessionId>>,
        now: Timestamp,
    ) -> Result<SessionCell, SessionError> {
        if first.lock().token_status() != TokenStatus::Gone {
            return Ok(first);
        }
        for verified in others {
            let cell = self.load_verified_at(verified, now).await?;
            if cell.lock().token_status() != TokenStatus::Gone {
                return Ok(cell);
            }
        }
        Ok(first)
    }

    /// The first token that verifies: an id to look up (with the ids of the
    /// later tokens that verify, to try if its session is gone), or, with a
    /// client-side store, the session it carries (a live one, when an
    /// expired copy comes first).
    fn first_valid<'t>(
        &self,
        tokens: impl IntoIterator<Item = &'t str>,
        now: Timestamp,
    ) -> FirstValid {
        let mut status = TokenStatus::Absent;
        let client = self.store().client_side();
        let mut tokens = tokens.into_iter();
        for token in tokens.by_ref() {
            status = TokenStatus::Rejected;
            match client {
                Some(client) => match client.open(self.signer(), token) {
                    Ok(verified) if !self.expiry().is_expired(&verified.value, now) => {
                        return FirstValid::Client(Box::new(verified));
                    }
                    Ok(expired) => {
                        // A stale copy on a more specific path, say: a live
                        // one may follow. Bounded like the ids below.
                        let live = tokens
                            .take(MAX_OTHER_TOKENS)
                            .filter_map(|t| client.open(self.signer(), t).ok())
                            .find(|other| !self.expiry().is_expired(&other.value, now));
                        return FirstValid::Client(Box::new(live.unwrap_or(expired)));
                    }
                    Err(error) => tracing::debug!(%error, "session cookie refused"),
                },
                None => match self.signer().verify_id(token) {
                    Ok(verified) => {
                        // Bounded: each is a store lookup, and the header is
                        // the client's to fill.
                        let others = tokens
                            .take(MAX_OTHER_TOKENS)
                            .filter_map(|t| self.signer().verify_id(t).ok())
                            .filter(|other| other.value != verified.value)
                            .collect();
                        return FirstValid::Server(verified, others);
                    }
                    Err(error) => tracing::debug!(%error, "session token refused"),
                },
            }
        }
        FirstValid::None(status)
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
        let gone = || {
            Ok(SessionCell::new(SessionState::empty(
                now,
                TokenStatus::Gone,
            )))
        };
        let Some(record) = self.live_record(id, now).await? else {
            tracing::debug!(session = %id.short(), "no live session for a valid token");
            return gone();
        };
        self.loaded(record, verified.key_index, now)
    }

    /// The record of `id` if it is live at `now`. One that does not decode
    /// is logged and absent; one the policy says has expired (the store's
    /// own expiry lagged: clock skew or an absolute limit) is absent and
    /// removed.
    pub(super) async fn live_record(
        &self,
        id: SessionId,
        now: Timestamp,
    ) -> Result<Option<crate::SessionRecord>, SessionError> {
        let record = match self.store().load_at(&id, now).await {
            Ok(record) => record,
            Err(StoreError::Corrupt(reason)) => {
                tracing::warn!(session = %id.short(), %reason, "stored session is corrupt; treating it as absent");
                return Ok(None);
            }
            Err(error) => return Err(error.into()),
        };
        match record {
            Some(record) if self.expiry().is_expired(&record, now) => {
                drop(record);
                // Rare, and boxed so that the common path's future stays small.
                Box::pin(self.remove_expired(id)).await;
                Ok(None)
            }
            record => Ok(record),
        }
    }

    async fn remove_expired(&self, id: SessionId) {
        tracing::debug!(session = %id.short(), "loaded an expired session; removing it");
        if let Err(error) = self.store().delete(&id).await {
            tracing::warn!(session = %id.short(), %error, "could not remove an expired session");
        }
    }

    /// The cell for a live record, with its refresh decided.
    /// Stored data that fails a check of [`SessionServiceBuilder::check_data`]
    /// is handled by the invalid-data policy here, for the whole request.
    fn loaded(
        &self,
        record: crate::SessionRecord,
        key_index: usize,
        now: crate::Timestamp,
    ) -> Result<SessionCell, SessionError> {
        if self.expiry().is_expired(&record, now) {
            return Ok(SessionCell::new(SessionState::empty(
                now,
                TokenStatus::Gone,
            )));
        }
        let failure = match &*self.inner.checks {
            [] => None,
            checks => DataCheck::first_failure(checks, &record.fields),
        };
        let id = record.id;
        let refresh = self.expiry().refresh(&record, now);
        // A refresh records the use anyway.
        let seen_due = refresh.is_none() && self.use_due(&record, now);
        let mut state = SessionState::loaded(now, key_index, record, refresh);
        state.seen_due = seen_due;
        if let Some((type_name, error)) = failure {
            tracing::warn!(session = %id.short(), data = type_name, %error, "stored session data is invalid");
            // Either way the request has no session, so a logout or a new
            // login still works; under `Fail`, reading the data fails.
            state.detach();
            if self.invalid_data_policy() == InvalidDataPolicy::Fail {
                state.failed_check = Some(format!("{type_name}: {error}").into());
            }
        }
        Ok(SessionCell::new(state))
    }

    /// Whether a read of `record` records its use (one write per interval):
    /// only where a per-user listing shows it.
    fn use_due(&self, record: &crate::SessionRecord, now: Timestamp) -> bool {
        self.inner
            .last_seen_interval
            .is_some_and(|interval| now.since(record.last_seen) >= interval)
            && record.user_id().is_some()
            && self.store().capabilities().user_index
            && self.store().client_side().is_none()
    }

    /// The typed view of a loaded session. Stored data that fails to decode or
    /// validate is logged with the session id and, under the default
    /// [`InvalidDataPolicy::Discard`], replaced by defaults while the stored
    /// record is left untouched.
    pub fn typed<T: SessionData>(&self, cell: &SessionCell) -> Result<Session<T>, SessionError> {
        // Only a load-time check under `Fail` leaves a reason: no extra lock
        // on the common path.
        if !self.inner.checks.is_empty()
            && self.invalid_data_policy() == InvalidDataPolicy::Fail
            && let Some(reason) = &cell.lock().failed_check
        {
            return Err(crate::SessionDataError::validation(reason).into());
        }
        match Session::from_cell(cell.clone()) {
            Ok(session) => Ok(session),
            Err(error) => {
                let id = cell.lock().record().map(|r| r.id.short());
                tracing::warn!(session = ?id, %error, "stored session data is invalid");
                match self.invalid_data_policy() {
                    InvalidDataPolicy::Fail => Err(error.into()),
                    InvalidDataPolicy::Discard => {
                        cell.lock().detach();
                        Ok(Session::with_data(cell.clone(), crate::session::defaults()))
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

/// How many tokens after the first valid one are kept as fallbacks (a
/// cookie of the same name on another path or domain or two).
const MAX_OTHER_TOKENS: usize = 3;

/// What [`SessionService::first_valid`] found.
enum FirstValid {
    /// A verified id to look up in the store, and the ids of the later
    /// tokens that verified (usually none).
    Server(Verified<SessionId>, Vec<Verified<SessionId>>),
    /// A client-side session, opened from its token.
    Client(Box<Verified<crate::SessionRecord>>),
    /// No token verified: none was presented, or every one was refused.
    None(TokenStatus),
}
