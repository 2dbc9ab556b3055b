use super::fence::Fence;
use super::{CookieAction, PersistOutcome, Persisted, SessionService};
use crate::data::SessionData;
use crate::state::{Changes, SessionCell, SessionState, TokenStatus};
use crate::{
    CookieLifetime, SaveOutcome, Session, SessionError, SessionId, SessionPatch, SessionRecord,
    StoreError, Timestamp,
};

/// What persist logs at `info` once the store took it: a login or a
/// logout, with sessions named by their short form and no user id (personal
/// data: an app that keeps an audit trail logs its own users).
#[derive(Clone, Copy)]
enum Event {
    Login { from: Option<SessionId> },
    Logout(SessionId),
}

impl Event {
    fn of(plan: &Plan) -> Option<Self> {
        match *plan {
            Plan::Rotate {
                old, login: true, ..
            } => Some(Self::Login { from: old }),
            Plan::Delete { old: Some(old), .. } => Some(Self::Logout(old)),
            _ => None,
        }
    }

    fn log(self, persisted: &Persisted) {
        let short = |id: SessionId| tracing::field::display(id.short());
        match (self, &persisted.outcome) {
            (Self::Login { from }, PersistOutcome::Rotated) => tracing::info!(
                session = persisted.id.map(short),
                from = from.map(short),
                "session logged in"
            ),
            (Self::Logout(id), PersistOutcome::Destroyed) => {
                tracing::info!(session = %id.short(), "session logged out");
            }
            _ => {}
        }
    }
}

/// Attempts at finding an unused id for a new session.
const CREATE_ATTEMPTS: usize = 3;

/// The store work persist decided on, computed under the state lock and run without it.
enum Plan {
    Nothing {
        expires_at: Option<Timestamp>,
    },
    Create(SessionRecord),
    Rotate {
        record: SessionRecord,
        old: Option<SessionId>,
        // A plain rotation must not bring back a session deleted meanwhile.
        old_must_exist: bool,
        // Compare-and-set: the old record must still be at this revision.
        expected_revision: Option<u64>,
        // A login apart: the flash the request took from the session it
        // leaves in place, to remove there.
        // Boxed: rare, and every plan would carry its room.
        taken_apart: Option<Box<(SessionId, SessionPatch)>>,
        // When the new record carries the old one's data and flash: this
        // request's changes, applied to the old record as it is just
        // before the move (another request may have saved it since the load).
        rebase: Option<Box<SessionPatch>>,
        // The same user stays logged in: the marker names the new id, for a
        // logout or revocation racing the move to follow.
        marker_names_new: bool,
        // A login: the user's sessions are held to the per-user limit.
        login: bool,
    },
    Save {
        id: SessionId,
        patch: SessionPatch,
    },
    /// Records the request's use of an unchanged session: `last_seen` only.
    Seen {
        id: SessionId,
        expires_at: Timestamp,
    },
    Touch {
        id: SessionId,
        expires_at: Timestamp,
        user_id: Option<String>,
    },
    /// A logout: the stored session goes; data or flash written after the
    /// logout start a session of their own.
    Delete {
        old: Option<SessionId>,
        then: Option<Box<SessionRecord>>,
    },
    /// Changes for a session that a login or rotation in another request
    /// moved before this one loaded it: dropped, the cookie left alone.
    Moved(SessionId),
}

impl SessionService {
    /// Commits a typed handle's changes and persists its session.
    pub async fn commit<T: SessionData>(
        &self,
        session: &mut Session<T>,
    ) -> Result<Persisted, SessionError> {
        session.commit()?;
        self.persist(session.cell()).await
    }

    /// Writes what the request changed, and only that:
    /// - a new session with data or flash is created (with a fresh id);
    /// - a login moves the session to its new id: the new record is written
    ///   before the old one is deleted, so a failure never loses the session.
    ///   Data and flash it carries over are re-read from the old
    ///   record just before, with this request's changes applied, and the
    ///   old record is closed at the revision read, so a change another
    ///   request saved since the load moves too (one more store read and
    ///   write);
    /// - a loaded session saves changed fields and flash, or only its expiry when
    ///   a refresh is due, or nothing at all;
    /// - a destroyed session is deleted; data or flash written after the
    ///   logout start a new anonymous session holding only those (not for a
    ///   client that keeps its own token, see
    ///   [`SessionState::keep_token`](crate::SessionState::keep_token));
    ///   one that cannot be stored or sealed is dropped (logged) and the
    ///   cookie cleared, so the logout never fails for it.
    ///
    /// Persist runs once per request; later calls change nothing.
    pub async fn persist(&self, cell: &SessionCell) -> Result<Persisted, SessionError> {
        let (plan, event, token, reissue, reissue_id, lifetime) = {
            let mut state = cell.lock();
            if state.finished {
                return Ok(Persisted::new(
                    PersistOutcome::Unchanged,
                    CookieAction::Keep,
                    state.id(),
                ));
            }
            if let Some(error) = state.changes.as_mut().and_then(|c| c.commit_error.take()) {
                return Err(error.into());
            }
            state.finish();
            let plan = self.plan(&mut state);
            let event = Event::of(&plan);
            if plan.compares_revision() && !self.store().capabilities().compare_and_set {
                // Saving anyway would drop the other request's change.
                tracing::warn!(
                    store = self.store().name(),
                    "compare-and-set save on a store without it; nothing written"
                );
                return Err(self.store().unsupported("compare-and-set saves").into());
            }
            if let Some(client) = self.store().client_side() {
                // A logout (also one a login follows), or a login as another
                // user: a copy of the old session set back would undo it. A
                // rotation that keeps the user (and a login apart, which
                // keeps the old one) leaves nothing a copy could undo.
                let ends_login = match &plan {
                    Plan::Delete { old, .. } => old.is_some(),
                    Plan::Rotate {
                        old,
                        marker_names_new,
                        ..
                    } => old.is_some() && (!marker_names_new || state.logged_out()),
                    _ => false,
                };
                let ended = self.ended_cookie(&mut state, ends_login);
                let sealed = client_outcome(plan, &state);
                drop(state);
                let mut persisted = self.persist_client(client, sealed)?;
                persisted.ended = ended;
                if let Some(event) = event {
                    event.log(&persisted);
                }
                return Ok(persisted);
            }
            (
                plan,
                event,
                state.token,
                state.reissues(),
                state.record().map(|r| r.id),
                // The loaded session's; a new or moved record carries its own.
                state
                    .record()
                    .map_or(CookieLifetime::AppDefault, SessionRecord::cookie_lifetime),
            )
        };
        let rejected = token == TokenStatus::Rejected;
        let set = |id: &SessionId, expires_at, lifetime| CookieAction::Set {
            token: self.signer().sign_id(id),
            expires_at,
            lifetime,
        };
        let persisted = match plan {
            Plan::Nothing { expires_at } => match (reissue_id, expires_at) {
                // Re-signed only once the store says the session is still
                // there: a login in another request may have moved it, and
                // this cookie arriving after that login's would undo it.
                (Some(id), Some(expires_at)) if reissue => {
                    Box::pin(self.record_use(cell, id, expires_at, lifetime, true)).await
                }
                _ => Persisted::new(
                    PersistOutcome::Unchanged,
                    if rejected {
                        CookieAction::Clear
                    } else {
                        CookieAction::Keep
                    },
                    reissue_id,
                ),
            },
            Plan::Create(record) => {
                let record = self.create_with_fresh_id(record).await?;
                Persisted::new(
                    PersistOutcome::Created,
                    set(&record.id, record.expires_at, record.cookie_lifetime()),
                    Some(record.id),
                )
            }
            Plan::Rotate {
                mut record,
                old,
                old_must_exist,
                expected_revision,
                taken_apart,
                rebase,
                marker_names_new,
                login,
            } => {
                if let (Some(old), Some(expected)) = (old, expected_revision) {
                    // Boxed: rare, and the common future stays small.
                    Box::pin(self.unchanged_since(&old, expected, record.last_seen)).await?;
                }
                let fence = match (old, rebase) {
                    (Some(old), Some(changes)) => {
                        Box::pin(self.rebase(&mut record, &old, changes, !login)).await?
                    }
                    _ => None,
                };
                // Boxed: rare, and the common future stays small.
                let rotation =
                    self.rotate(&mut record, old, old_must_exist, marker_names_new, fence);
                let kept = Box::pin(rotation).await?;
                if let (false, Some(old)) = (kept, old) {
                    return Ok(vanished(&old));
                }
                if let Some(apart) = taken_apart {
                    let (id, patch) = *apart;
                    Box::pin(self.remove_taken_flash(id, patch)).await;
                }
                if let (true, Some(user_id)) = (login, record.user_id()) {
                    Box::pin(self.hold_to_user_limit(user_id, &record)).await;
                }
                Persisted::new(
                    PersistOutcome::Rotated,
                    set(&record.id, record.expires_at, record.cookie_lifetime()),
                    Some(record.id),
                )
            }
            Plan::Save { id, patch } => match self.store().save(&id, &patch).await? {
                SaveOutcome::Saved => {
                    let refreshed = patch.expires_at.is_some();
                    let cookie = match (patch.expires_at, reissue) {
                        (Some(expires_at), _) => set(&id, expires_at, lifetime),
                        (None, true) => {
                            let expires_at = cell.lock().record().map(|r| r.expires_at);
                            expires_at.map_or(CookieAction::Keep, |e| set(&id, e, lifetime))
                        }
                        (None, false) => CookieAction::Keep,
                    };
                    Persisted::new(PersistOutcome::Saved { refreshed }, cookie, Some(id))
                }
                SaveOutcome::Missing => vanished(&id),
                SaveOutcome::Conflict { current } => {
                    return Err(SessionError::Conflict { current });
                }
            },
            Plan::Touch {
                id,
                expires_at,
                user_id,
            } => {
                let now = cell.lock().now;
                let touched = self.store().touch(&id, expires_at, now, user_id.as_deref());
                match touched.await? {
                    SaveOutcome::Missing => vanished(&id),
                    _ => Persisted::new(
                        PersistOutcome::Refreshed,
                        set(&id, expires_at, lifetime),
                        Some(id),
                    ),
                }
            }
            Plan::Seen { id, expires_at } => {
                self.record_use(cell, id, expires_at, lifetime, reissue)
                    .await
            }
            Plan::Moved(id) => vanished(&id),
            Plan::Delete { old, then } => {
                if let Some(id) = old
                    && !self.store().delete(&id).await?
                {
                    // Rare, and boxed so that the common future stays small.
                    Box::pin(self.delete_moved(id)).await?;
                }
                let created = match then {
                    Some(record) => Box::pin(self.create_with_fresh_id(*record))
                        .await
                        .inspect_err(|error| tracing::error!(%error, "could not store the data or flash written after a logout; they are dropped, the logout stands"))
                        .ok(),
                    None => None,
                };
                match created {
                    Some(record) => Persisted::new(
                        PersistOutcome::Destroyed,
                        set(&record.id, record.expires_at, record.cookie_lifetime()),
                        Some(record.id),
                    ),
                    None => logged_out(),
                }
            }
        };
        if let Some(event) = event {
            event.log(&persisted);
        }
        Ok(persisted)
    }

    /// Client-side stores: the new record goes into the cookie; nothing is written server-side.
    fn persist_client(
        &self,
        client: &dyn crate::ClientSide,
        sealed: ClientOutcome,
    ) -> Result<Persisted, SessionError> {
        Ok(match sealed {
            ClientOutcome::Keep => {
                Persisted::new(PersistOutcome::Unchanged, CookieAction::Keep, None)
            }
            ClientOutcome::Clear(outcome) => Persisted::new(outcome, CookieAction::Clear, None),
            ClientOutcome::Seal(record, outcome) => match client.seal(self.signer(), &record) {
                Ok(token) => Persisted::new(
                    outcome,
                    CookieAction::Set {
                        token,
                        expires_at: record.expires_at,
                        lifetime: record.cookie_lifetime(),
                    },
                    Some(record.id),
                ),
                // The cookie holding the logged-out session must go all the
                // same: with this store, it is the session.
                Err(error) if outcome == PersistOutcome::Destroyed => {
                    tracing::error!(%error, "could not seal the data or flash written after a logout; they are dropped, the logout stands");
                    logged_out()
                }
                Err(error) => return Err(error.into()),
            },
        })
    }

    fn plan(&self, state: &mut SessionState) -> Plan {
        let now = state.now;
        // The stored id, also of a record whose data was found invalid: a
        // logout or login must still delete it.
        if state.destroy {
            // A session moved by a login or rotation elsewhere: the logout
            // follows the move (see `delete_moved`).
            return Plan::Delete {
                old: state.stored_id().or(state.moved_from),
                then: self.after_logout(state).map(Box::new),
            };
        }
        // Cloned, not taken: `fields()` and `next_flash()` below depend on it.
        if let Some(rotation) = state.changes.as_ref().and_then(|c| c.rotation.clone()) {
            let loaded = state.record().filter(|_| rotation.replace_old);
            let (created_at, expires_at) = match (rotation.login, loaded) {
                (true, _) => (now, self.expiry().for_login(now, rotation.binding.as_ref())),
                // A rotation keeps the session's age and expiry, so the
                // absolute limit still counts from its creation.
                (false, Some(old)) => (
                    old.created_at,
                    old.expires_at
                        .max(state.refresh_to.unwrap_or(old.expires_at)),
                ),
                (false, None) => (now, self.expiry().for_new(now, false)),
            };
            let mut record = SessionRecord::new(rotation.new_id, created_at, expires_at);
            record.last_seen = now;
            record.binding = rotation.binding.map(Box::new);
            // Loaded data plus changes, or the changes alone when the
            // rotation carries nothing over.
            (record.fields, record.flash) = (state.fields(), state.next_flash());
            let taken_apart = match (&state.changes, state.record()) {
                (Some(changes), Some(loaded))
                    if !rotation.replace_old && !changes.taken_flash.is_empty() =>
                {
                    let patch = SessionPatch {
                        taken_flash: changes.taken_flash.clone(),
                        last_seen: now,
                        ..SessionPatch::default()
                    };
                    Some(Box::new((loaded.id, patch)))
                }
                _ => None,
            };
            let rebase = match (&state.changes, state.base()) {
                (Some(changes), Some(_)) if rotation.replace_old => Some(Box::new(SessionPatch {
                    set_fields: changes.set_fields.clone(),
                    removed_fields: changes.removed_fields.clone(),
                    set_flash: changes.set_flash.clone(),
                    taken_flash: changes.flash_removals(),
                    ..SessionPatch::default()
                })),
                _ => None,
            };
            // Only while the same user stays logged in: a logout through an
            // old id of another user (planted, or an earlier account on a
            // shared browser) must not end this login.
            let marker_names_new = rotation.replace_old
                && match (state.record().and_then(|r| r.user_id()), record.user_id()) {
                    (Some(old), Some(new)) => old == new,
                    _ => false,
                };
            state.changes = None;
            let old = state.stored_id().filter(|_| rotation.replace_old);
            return Plan::Rotate {
                record,
                old,
                old_must_exist: !rotation.login && old.is_some(),
                expected_revision: state.expected_revision.filter(|_| old.is_some()),
                taken_apart,
                rebase,
                marker_names_new,
                login: rotation.login,
            };
        }
        // Taken apart in its box rather than moved out of it whole.
        let mut changes = state.changes.take();
        let changes = changes.as_deref_mut();
        let taken_flash = changes
            .as_deref()
            .map(Changes::flash_removals)
            .unwrap_or_default();
        let (set_fields, removed_fields, set_flash) = changes
            .map(|c| {
                (
                    std::mem::take(&mut c.set_fields),
                    std::mem::take(&mut c.removed_fields),
                    std::mem::take(&mut c.set_flash),
                )
            })
            .unwrap_or_default();
        let Some(loaded) = state.record() else {
            if set_fields.is_empty() && set_flash.is_empty() {
                return Plan::Nothing { expires_at: None };
            }
            if let Some(id) = state.moved_from {
                return Plan::Moved(id);
            }
            let mut record = SessionRecord::new(
                SessionId::generate(),
                now,
                self.expiry().for_new(now, false),
            );
            record.fields = set_fields;
            record.flash = set_flash;
            return Plan::Create(record);
        };
        let id = loaded.id;
        let expires_at = loaded.expires_at;
        // Only a refresh moves an index entry.
        let user_id = state.refresh_to.and(loaded.user_id()).map(str::to_owned);
        let patch = SessionPatch {
            set_fields,
            removed_fields,
            set_flash,
            taken_flash,
            expires_at: state.refresh_to,
            last_seen: now,
            expected_revision: state.expected_revision,
            user_id,
        };
        if patch.changes_data() {
            Plan::Save { id, patch }
        } else if let Some(expires_at) = state.refresh_to {
            Plan::Touch {
                id,
                expires_at,
                user_id: patch.user_id,
            }
        } else if state.seen_due {
            Plan::Seen { id, expires_at }
        } else {
            Plan::Nothing {
                expires_at: Some(expires_at),
            }
        }
    }

    /// The session that data or flash written after a logout start (a
    /// "signed out" message, say): anonymous, holding only those. `None`
    /// when nothing was written since, or for a client that keeps its own
    /// token (a bearer client), which could not be handed the new one.
    fn after_logout(&self, state: &mut SessionState) -> Option<SessionRecord> {
        let changes = state.changes.take()?;
        if changes.set_fields.is_empty() && changes.set_flash.is_empty() {
            return None;
        }
        if state.token_kept {
            tracing::info!(
                fields = changes.set_fields.len(),
                flash = changes.set_flash.len(),
                "data written after a bearer client's logout is dropped: a new session's token could only go out in a cookie"
            );
            return None;
        }
        let now = state.now;
        let mut record = SessionRecord::new(
            SessionId::generate(),
            now,
            self.expiry().for_new(now, false),
        );
        (record.fields, record.flash) = (changes.set_fields, changes.set_flash);
        Some(record)
    }

    /// Moves an unchanged session's `last_seen` alone (a touch would set the
    /// loaded expiry over a concurrent refresh); with `reissue` the cookie
    /// is re-signed once the save found the session. A failing store is
    /// logged: a read does not fail for this.
    async fn record_use(
        &self,
        cell: &SessionCell,
        id: SessionId,
        expires_at: Timestamp,
        lifetime: CookieLifetime,
        reissue: bool,
    ) -> Persisted {
        let patch = SessionPatch {
            last_seen: cell.lock().now,
            ..SessionPatch::default()
        };
        let (outcome, confirmed) = match self.store().save(&id, &patch).await {
            Ok(SaveOutcome::Missing) => return vanished(&id),
            Ok(_) => (PersistOutcome::Seen, true),
            Err(error) => {
                tracing::warn!(session = %id.short(), %error, "could not record a session's use");
                (PersistOutcome::Unchanged, false)
            }
        };
        // Unconfirmed, the client's token (still verifying) is the safe one.
        let cookie = if reissue && confirmed {
            CookieAction::Set {
                token: self.signer().sign_id(&id),
                expires_at,
                lifetime,
            }
        } else {
            CookieAction::Keep
        };
        Persisted::new(outcome, cookie, Some(id))
    }

    pub(super) async fn create_with_fresh_id(
        &self,
        mut record: SessionRecord,
    ) -> Result<SessionRecord, SessionError> {
        for _ in 0..CREATE_ATTEMPTS {
            match self.store().create(&record).await {
                Ok(()) => return Ok(record),
                Err(StoreError::Collision) => {
                    tracing::warn!("session id collision; retrying with a new id");
                    record.id = SessionId::generate();
                }
                Err(error) => return Err(error.into()),
            }
        }
        Err(StoreError::Collision.into())
    }

    /// After a login apart: removes the flash the request took from the
    /// session it left in place, so it is still read only once. The new
    /// session is written by then; a failure here is logged, not returned.
    async fn remove_taken_flash(&self, id: SessionId, patch: SessionPatch) {
        if let Err(error) = self.store().save(&id, &patch).await {
            tracing::warn!(session = %id.short(), %error, "could not remove the flash taken from the session left in place");
        }
    }

    /// The compare-and-set of a rotation: the old record must still be at
    /// revision `expected` (checked by a save that writes no data), else the
    /// rotation is a conflict and writes nothing. A record already gone is
    /// left to [`rotate`](Self::rotate).
    async fn unchanged_since(
        &self,
        old: &SessionId,
        expected: u64,
        now: crate::Timestamp,
    ) -> Result<(), SessionError> {
        let check = SessionPatch {
            last_seen: now,
            expected_revision: Some(expected),
            ..SessionPatch::default()
        };
        match self.store().save(old, &check).await? {
            SaveOutcome::Conflict { current } => Err(SessionError::Conflict { current }),
            SaveOutcome::Saved | SaveOutcome::Missing => Ok(()),
        }
    }

    /// Gives a rotation's new `record` the old record's data and flash as
    /// they are now, with this request's `changes` applied: another request
    /// may have saved the old record since this one loaded it, and the move
    /// must not undo that (nor bring back a flash it read). With
    /// `keeps_binding` (a rotation that is no login), the binding too, when
    /// it is still the same user's: its permissions may have been set since
    /// the load. An old record gone or unreadable leaves `record` as
    /// planned, from the load.
    ///
    /// The answer is the [`Fence`] that closes the old record at the
    /// revision read, so that no save to it is confirmed after it was read
    /// and then lost with it (see [`rotate`](Self::rotate)).
    async fn rebase(
        &self,
        record: &mut SessionRecord,
        old: &SessionId,
        changes: Box<SessionPatch>,
        keeps_binding: bool,
    ) -> Result<Option<Fence>, SessionError> {
        let mut current = match self.store().load(old).await {
            Ok(Some(current)) => current,
            Ok(None) | Err(StoreError::Corrupt(_)) => return Ok(None),
            Err(error) => return Err(error.into()),
        };
        let fence = Fence {
            revision: current.revision,
            user_id: current.user_id().map(str::to_owned),
            changes,
        };
        // As a save would apply them; only the data and flash are taken.
        current.apply(&fence.changes);
        (record.fields, record.flash) = (current.fields, current.flash);
        // A rotation that is no login moves the binding it loaded: the
        // stored one is as new, and newer when the user's permissions were
        // set meanwhile (`set_permissions`), which the move must not undo.
        if keeps_binding
            && let (Some(moving), Some(stored)) = (&record.binding, &current.binding)
            && moving.user_id == stored.user_id
        {
            record.binding = current.binding;
        }
        Ok(Some(fence))
    }

    /// Writes the new record, marks the old id as moved (see
    /// [`SessionServiceBuilder::moved_grace`](super::SessionServiceBuilder::moved_grace);
    /// before the delete, so that no request finds neither), closes the old
    /// record at the revision read ([`close_old`](Self::close_old)), then
    /// deletes it. Once closed, the old record loads no more, so a failed
    /// delete keeps the move (expiry removes it). If the old one can be
    /// neither closed nor deleted the new one and the marker are removed
    /// again, so a failed login never leaves both ids valid. With
    /// `old_must_exist`, an old record already gone (revoked or expired
    /// during the request) also removes them, and the answer is `false`: a
    /// rotation never brings a revoked session back.
    async fn rotate(
        &self,
        record: &mut SessionRecord,
        old: Option<SessionId>,
        old_must_exist: bool,
        marker_names_new: bool,
        fence: Option<Fence>,
    ) -> Result<bool, SessionError> {
        self.store().create(record).await?;
        let Some(old) = old else {
            return Ok(true);
        };
        let to = marker_names_new.then_some(record.id);
        // Boxed: rare, and the common future stays small.
        let marked = Box::pin(self.leave_moved_marker(old, to)).await;
        let fenced = match fence {
            Some(fence) => match Box::pin(self.close_old(record, old, fence)).await {
                Ok(fenced) => fenced,
                Err(error) => {
                    // The delete below decides, as without a fence.
                    tracing::warn!(%error, "could not close the old session before deleting it");
                    false
                }
            },
            None => false,
        };
        let failure = match self.store().delete(&old).await {
            Ok(true) => return Ok(true),
            // Closed, the old record loads no more: the move is done, and
            // it may be gone already (a store dropping an expired record at
            // once), or left for expiry to remove.
            Ok(false) if fenced || !old_must_exist => return Ok(true),
            Err(error) if fenced => {
                tracing::warn!(%error, "could not delete the closed old session after rotation; expiry removes it");
                return Ok(true);
            }
            Ok(false) => None,
            Err(error) => {
                tracing::error!(%error, "could not delete the old session after rotation");
                Some(error)
            }
        };
        for (id, what) in [(Some(record.id), "new session"), (marked, "moved marker")] {
            let Some(id) = id else { continue };
            if let Err(cleanup) = self.store().delete(&id).await {
                tracing::error!(error = %cleanup, "could not remove the {what} after a failed rotation");
            }
        }
        match failure {
            Some(error) => Err(error.into()),
            None => Ok(false),
        }
    }
}

impl Plan {
    /// Whether the write is conditional on the loaded revision.
    fn compares_revision(&self) -> bool {
        match self {
            Plan::Save { patch, .. } => patch.expected_revision.is_some(),
            Plan::Rotate {
                expected_revision, ..
            } => expected_revision.is_some(),
            _ => false,
        }
    }
}

/// What a client-side persist puts in the cookie.
enum ClientOutcome {
    Keep,
    Clear(PersistOutcome),
    Seal(SessionRecord, PersistOutcome),
}

/// The record a plan leads to, for stores that keep it in the cookie.
fn client_outcome(plan: Plan, state: &SessionState) -> ClientOutcome {
    let reissue = state.reissues();
    let loaded = state.record();
    match plan {
        Plan::Create(record) => ClientOutcome::Seal(record, PersistOutcome::Created),
        Plan::Rotate { record, .. } => ClientOutcome::Seal(record, PersistOutcome::Rotated),
        Plan::Delete {
            then: Some(record), ..
        } => ClientOutcome::Seal(*record, PersistOutcome::Destroyed),
        Plan::Delete { then: None, .. } => ClientOutcome::Clear(PersistOutcome::Destroyed),
        // Client-side stores leave no markers.
        Plan::Moved(_) => ClientOutcome::Keep,
        Plan::Save { patch, .. } => match loaded {
            Some(loaded) => {
                let mut record = loaded.clone();
                record.apply(&patch);
                let refreshed = patch.expires_at.is_some();
                ClientOutcome::Seal(record, PersistOutcome::Saved { refreshed })
            }
            None => ClientOutcome::Keep,
        },
        Plan::Touch { expires_at, .. } => match loaded {
            Some(loaded) => {
                let mut record = loaded.clone();
                record.expires_at = expires_at;
                record.last_seen = record.last_seen.max(state.now);
                ClientOutcome::Seal(record, PersistOutcome::Refreshed)
            }
            None => ClientOutcome::Keep,
        },
        // Not planned for client-side stores (see `use_due`): a cookie
        // carrying the loaded data could undo a concurrent change.
        Plan::Seen { .. } => ClientOutcome::Keep,
        Plan::Nothing { .. } => match loaded {
            Some(loaded) if reissue => {
                ClientOutcome::Seal(loaded.clone(), PersistOutcome::Unchanged)
            }
            Some(_) => ClientOutcome::Keep,
            None if state.token == TokenStatus::Rejected => {
                ClientOutcome::Clear(PersistOutcome::Unchanged)
            }
            None => ClientOutcome::Keep,
        },
    }
}

/// A logout that leaves no session behind: the cookie is cleared.
fn logged_out() -> Persisted {
    Persisted::new(PersistOutcome::Destroyed, CookieAction::Clear, None)
}

/// The cookie is left alone: the session may have gone to a login of another
/// request, whose cookie a clearing one arriving later would delete.
fn vanished(id: &SessionId) -> Persisted {
    tracing::info!(session = %id.short(), "session disappeared before persist (expired, revoked or rotated by another request); changes dropped");
    Persisted::new(PersistOutcome::Vanished, CookieAction::Keep, None)
}
