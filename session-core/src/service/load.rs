use super::check::DataCheck;
use super::{InvalidDataPolicy, SessionService};
use crate::data::SessionData;
use crate::state::{SessionCell, SessionState, TokenStatus};
use crate::token::{TokenError, Verified};
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
    /// that verifies is loaded; each is verified once, and only the first
    /// eight are tried (beyond them, the request counts as one whose token
    /// was refused, so a header packed with forged tokens buys no more than
    /// eight signature checks). When it names a
    /// session that is gone (a stale cookie on a more specific path, say),
    /// the next one that verified is looked up, and so on, among the next
    /// three tokens. A gone session costs two lookups: its record, and the
    /// marker a move by a login elsewhere would have left (see
    /// [`SessionServiceBuilder::moved_grace`](super::SessionServiceBuilder::moved_grace)).
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
            FirstValid::Undecodable(reason) => Ok(self.undecodable(now, reason, None)),
            FirstValid::None(status) => Ok(SessionCell::new(SessionState::empty(now, status))),
        }
    }

    /// After the first verified id named a session that is gone: the next
    /// verified id whose session loads, else the first empty cell of a
    /// moved session (a stale cookie in front must not hide the move), else
    /// the first one's empty cell.
    async fn load_others(
        &self,
        first: SessionCell,
        others: Vec<Verified<SessionId>>,
        now: Timestamp,
    ) -> Result<SessionCell, SessionError> {
        if first.lock().token_status() != TokenStatus::Gone {
            return Ok(first);
        }
        let mut fallback = first;
        for verified in others {
            let cell = self.load_verified_at(verified, now).await?;
            let (gone, moved) = {
                let state = cell.lock();
                (
                    state.token_status() == TokenStatus::Gone,
                    state.moved_from.is_some(),
                )
            };
            if !gone {
                return Ok(cell);
            }
            if moved && fallback.lock().moved_from.is_none() {
                fallback = cell;
            }
        }
        Ok(fallback)
    }

    /// The first token that verifies: an id to look up (with the ids of the
    /// later tokens that verify, to try if its session is gone), or, with a
    /// client-side store, the session it carries (a live one, when an
    /// expired copy comes first). An authentic client-side token whose
    /// session does not decode is logged and, unless a later one opens,
    /// taken as a corrupt stored record: no session, the token kept.
    fn first_valid<'t>(
        &self,
        tokens: impl IntoIterator<Item = &'t str>,
        now: Timestamp,
    ) -> FirstValid {
        let mut status = TokenStatus::Absent;
        let mut undecodable = None;
        let mut bad_signature = false;
        let client = self.store().client_side();
        let mut tokens = tokens.into_iter();
        for (tried, token) in tokens.by_ref().enumerate() {
            // Each is a signature check, and the header is the client's to fill.
            if tried == MAX_TOKENS_TRIED {
                tracing::debug!(
                    max = MAX_TOKENS_TRIED,
                    "more session tokens than are tried; the rest are ignored"
                );
                break;
            }
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
                    Err(TokenError::Undecodable { session, reason }) => {
                        log_corrupt(session, &reason);
                        undecodable.get_or_insert(reason);
                    }
                    Err(error) => {
                        tracing::debug!(%error, "session cookie refused");
                        bad_signature |= error == TokenError::BadSignature;
                    }
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
                    Err(error) => {
                        tracing::debug!(%error, "session token refused");
                        bad_signature |= error == TokenError::BadSignature;
                    }
                },
            }
        }
        match undecodable {
            Some(reason) => FirstValid::Undecodable(reason),
            None => {
                if bad_signature {
                    self.inner.token_reports.bad_signature(now);
                }
                FirstValid::None(status)
            }
        }
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
        match self.lookup(id, now).await? {
            Lookup::Live(record) => self.loaded(record, verified.key_index, now),
            Lookup::Absent => {
                tracing::debug!(session = %id.short(), "no live session for a valid token");
                gone()
            }
            Lookup::Corrupt(reason) => Ok(self.undecodable(now, reason, Some(id))),
            Lookup::Moved(_) => {
                tracing::debug!(session = %id.short(), "a valid token for a session moved by another request");
                let mut state = SessionState::empty(now, TokenStatus::Gone);
                state.moved_from = Some(id);
                Ok(SessionCell::new(state))
            }
        }
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
        Ok(match self.lookup(id, now).await? {
            Lookup::Live(record) => Some(record),
            Lookup::Absent | Lookup::Corrupt(_) | Lookup::Moved(_) => None,
        })
    }

    /// [`live_record`](Self::live_record), telling a record that does not
    /// decode (logged here) from one that is not there.
    pub(super) async fn lookup(
        &self,
        id: SessionId,
        now: Timestamp,
    ) -> Result<Lookup, SessionError> {
        let record = match self.store().load_at(&id, now).await {
            Ok(record) => record,
            Err(StoreError::Corrupt(reason)) => {
                log_corrupt(Some(id), &reason);
                return Ok(Lookup::Corrupt(reason));
            }
            Err(error) => return Err(error.into()),
        };
        match record {
            Some(record) if self.expiry().is_expired(&record, now) => {
                drop(record);
                // Rare, and boxed so that the common path's future stays small.
                Box::pin(self.remove_expired(id)).await;
                Ok(Lookup::Absent)
            }
            Some(record) => Ok(Lookup::Live(record)),
            // Rare (expired, revoked or moved), and boxed likewise.
            None => Ok(Box::pin(self.absent_or_moved(id, now)).await),
        }
    }

    /// The cell for a session whose stored data does not decode, in the
    /// store or in an authentic cookie: no session, and the token is kept
    /// (a read never clears it; a write starts a new session, leaving a
    /// server-side record as it is; a logout or login deletes it: `stored`,
    /// its id). Under [`InvalidDataPolicy::Fail`], reading the session's
    /// data fails the request.
    fn undecodable(
        &self,
        now: Timestamp,
        reason: String,
        stored: Option<SessionId>,
    ) -> SessionCell {
        let mut state = SessionState::empty(now, TokenStatus::Gone);
        state.detached = stored;
        if self.invalid_data_policy() == InvalidDataPolicy::Fail {
            state.failed_check = Some(reason.into());
        }
        SessionCell::new(state)
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
        if key_index != 0 {
            self.inner.token_reports.older_key(now);
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
        // Only a load under `Fail` leaves a reason (a data check, or a
        // record that does not decode): no extra lock under the default.
        if self.invalid_data_policy() == InvalidDataPolicy::Fail
            && let Some(reason) = &cell.lock().failed_check
        {
            return Err(crate::SessionDataError::validation(reason).into());
        }
        match Session::from_cell(cell.clone()) {
            Ok(session) => Ok(session),
            Err(error) => {
                let id = cell.lock().record().map(|r| r.id.short());
                let session = id.map(tracing::field::display);
                let data = std::any::type_name::<T>();
                tracing::warn!(session, data, %error, "stored session data is invalid");
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

/// How many tokens are tried in search of the first valid one: a browser
/// sends a few cookies of one name at most, and a request packed with
/// forged ones must not buy a signature check for each.
const MAX_TOKENS_TRIED: usize = 8;

/// What [`SessionService::first_valid`] found.
enum FirstValid {
    /// A verified id to look up in the store, and the ids of the later
    /// tokens that verified (usually none).
    Server(Verified<SessionId>, Vec<Verified<SessionId>>),
    /// A client-side session, opened from its token.
    Client(Box<Verified<crate::SessionRecord>>),
    /// No token opened, but one was authentic and its session does not
    /// decode: why.
    Undecodable(String),
    /// No token verified: none was presented, or every one was refused.
    None(TokenStatus),
}

/// What the store holds for an id, as [`SessionService::lookup`] found it.
pub(super) enum Lookup {
    Live(crate::SessionRecord),
    /// None, or expired.
    Absent,
    /// A record that does not decode: why.
    Corrupt(String),
    /// The marker a login or rotation left under the old id, with the new
    /// id it names (only when the same user stayed logged in).
    Moved(Option<SessionId>),
}

/// Logs stored data that does not decode, with the session's id when known.
fn log_corrupt(session: Option<SessionId>, reason: &str) {
    match session {
        Some(id) => {
            tracing::warn!(session = %id.short(), %reason, "stored session does not decode; treating it as absent");
        }
        None => tracing::warn!(%reason, "stored session does not decode; treating it as absent"),
    }
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;

    use super::*;
    use crate::store::Capabilities;
    use crate::{Key, SaveOutcome, SessionPatch, SessionStore};

    /// A server-side store whose every record is corrupt.
    #[derive(Debug)]
    struct Corrupt;

    #[async_trait]
    impl SessionStore for Corrupt {
        fn name(&self) -> &'static str {
            "corrupt"
        }
        fn capabilities(&self) -> Capabilities {
            Capabilities::ALL
        }
        async fn create(&self, _: &crate::SessionRecord) -> Result<(), StoreError> {
            Ok(())
        }
        async fn load(&self, _: &SessionId) -> Result<Option<crate::SessionRecord>, StoreError> {
            Err(StoreError::Corrupt(
                "record format version 2 is not supported".into(),
            ))
        }
        async fn save(&self, _: &SessionId, _: &SessionPatch) -> Result<SaveOutcome, StoreError> {
            Ok(SaveOutcome::Missing)
        }
        async fn touch(
            &self,
            _: &SessionId,
            _: Timestamp,
            _: Timestamp,
            _: Option<&str>,
        ) -> Result<SaveOutcome, StoreError> {
            Ok(SaveOutcome::Missing)
        }
        async fn delete(&self, _: &SessionId) -> Result<bool, StoreError> {
            Ok(false)
        }
    }

    /// Forged tokens in front of the valid one: up to the bound it is
    /// still found; past it the request is one with a rejected token.
    #[test]
    fn only_the_first_tokens_are_tried() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let service = SessionService::builder()
            .store(crate::MemoryStore::new())
            .key(Key::new([1; 32]).unwrap())
            .build()
            .unwrap();
        let id = runtime
            .block_on(service.create_session(crate::Binding::user("u")))
            .unwrap();
        let valid = service.token_for(&id);
        let forged = crate::token::TokenSigner::new(
            crate::SigningKeys::single(Key::new([2; 32]).unwrap()),
            service.signer().context(),
        )
        .sign_id(&id);
        for (in_front, found) in [(MAX_TOKENS_TRIED - 1, true), (MAX_TOKENS_TRIED, false)] {
            let tokens = std::iter::repeat_n(forged.as_str(), in_front).chain([valid.as_str()]);
            let cell = runtime.block_on(service.load_first(tokens)).unwrap();
            let state = cell.lock();
            assert_eq!(state.is_loaded(), found, "{in_front} in front");
            if !found {
                assert_eq!(state.token_status(), TokenStatus::Rejected);
            }
        }
    }

    #[test]
    fn a_corrupt_record_is_no_session_and_keeps_the_token_failing_reads_under_fail() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        for policy in [InvalidDataPolicy::Discard, InvalidDataPolicy::Fail] {
            let service = SessionService::builder()
                .store(Corrupt)
                .key(Key::new([1; 32]).unwrap())
                .invalid_data(policy)
                .build()
                .unwrap();
            let token = service.token_for(&SessionId::generate());
            let cell = runtime.block_on(service.load(Some(&token))).unwrap();
            let state = cell.lock();
            assert!(!state.is_loaded());
            assert_eq!(state.token_status(), TokenStatus::Gone, "token kept");
            assert_eq!(
                state.failed_check.is_some(),
                policy == InvalidDataPolicy::Fail,
                "{policy:?}"
            );
        }
    }
}
