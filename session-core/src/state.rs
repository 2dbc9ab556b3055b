//! The per-request, type-erased state of one session.

use std::sync::Arc;

use parking_lot::Mutex;

use crate::{Binding, FieldMap, SessionDataError, SessionId, SessionRecord, Timestamp};

/// What the request's token turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStatus {
    /// No token was presented.
    Absent,
    /// The token verified and its session loaded.
    Valid {
        /// Index of the key that verified it (`0`: the signing key).
        key_index: usize,
    },
    /// A token was presented but is unusable: malformed, tampered or signed
    /// by an unknown key. Persist clears the cookie.
    Rejected,
    /// The token verified, but the session it names is gone: expired,
    /// revoked, or moved to a new id by a login in another request. Persist
    /// leaves the cookie alone: a response that cleared it could arrive after
    /// that login's and log the browser out again. Also a session whose
    /// stored data does not decode (a corrupt record, or an authentic cookie
    /// of a client-side store in another format): a read never clears it.
    Gone,
}

/// A pending switch to a new session id (login or explicit rotation).
#[derive(Debug, Clone, PartialEq)]
pub struct Rotation {
    /// The id the session moves to.
    pub new_id: SessionId,
    /// Who the new session belongs to.
    pub binding: Option<Binding>,
    /// A login (a fresh authentication: the session's age and lifetime
    /// start again, and it goes ahead even if the old session was revoked
    /// meanwhile), not a rotation that keeps the session as it is.
    pub login: bool,
    /// Whether the loaded data and flash move to the new id. Not when
    /// another user logs in (one user's data never reaches another's
    /// session), nor for a session of its own; this request's own changes
    /// always do.
    pub carry: bool,
    /// Whether the loaded session is deleted once the new one is written
    /// (not for a login on a session of its own, which leaves it alone).
    pub replace_old: bool,
}

/// One session as seen by one request: what was loaded plus what the request
/// changed. Persist turns the difference into store writes.
#[derive(Debug)]
pub struct SessionState {
    pub(crate) now: Timestamp,
    pub(crate) token: TokenStatus,
    pub(crate) loaded: Option<SessionRecord>,
    // Set when stored data failed to decode or validate (then `loaded` may
    // be `None`: a record the store could not decode): the record is left
    // untouched, a write starts a new session instead, and a logout or login
    // still deletes it.
    pub(crate) detached: Option<SessionId>,
    // The token named a session that a login or rotation in another request
    // moved (its marker was found): a write here is dropped, not turned into
    // a new session whose cookie would replace the one the move sent.
    pub(crate) moved_from: Option<SessionId>,
    // Why the load refused the stored data (a data check, or a record that
    // does not decode), kept under `InvalidDataPolicy::Fail` so that reading
    // the data fails.
    pub(crate) failed_check: Option<Box<str>>,
    pub(crate) refresh_to: Option<Timestamp>,
    /// The loaded session's recorded last use is older than the service's
    /// interval: persist records this one even if nothing changed.
    pub(crate) seen_due: bool,
    pub(crate) expected_revision: Option<u64>,
    pub(crate) destroy: bool,
    // Logouts so far: a handle made before one holds the old session's data.
    pub(crate) destroys: u32,
    pub(crate) finished: bool,
    // Typed handles borrowed mutably since their last commit (and not
    // before a logout), and the first one's type: one still open at
    // persist was moved out of its handler.
    pub(crate) unsaved_handles: u32,
    pub(crate) unsaved_type: Option<&'static str>,
    // The client keeps the token it sent (a bearer client): nothing to re-sign.
    pub(crate) token_kept: bool,
    // Allocated by the first change: a read-only request carries none.
    pub(crate) changes: Option<Box<Changes>>,
    // A client-side store's ended sessions, as the request's cookie named
    // them (see `SessionService::check_ended`).
    pub(crate) ended: Option<Box<crate::store::cookie::EndedSessions>>,
}

/// What a request changed, kept apart so read-only requests stay small.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    pub(crate) set_fields: FieldMap,
    pub(crate) removed_fields: Vec<Box<str>>,
    pub(crate) set_flash: FieldMap,
    /// Flash taken, with the value read (see [`SessionPatch::taken_flash`](crate::SessionPatch::taken_flash)).
    pub(crate) taken_flash: FieldMap,
    pub(crate) rotation: Option<Rotation>,
    pub(crate) commit_error: Option<SessionDataError>,
}

impl Changes {
    fn touches_fields(&self) -> bool {
        !self.set_fields.is_empty() || !self.removed_fields.is_empty()
    }

    /// The flash to remove: that taken, except the names this request
    /// flashed again, whose new value must survive for the next request.
    pub(crate) fn flash_removals(&self) -> FieldMap {
        if self.taken_flash.is_empty() {
            return FieldMap::new();
        }
        self.taken_flash
            .iter()
            .filter(|(name, _)| !self.set_flash.contains(name))
            .collect()
    }
}

impl SessionState {
    pub(crate) fn empty(now: Timestamp, token: TokenStatus) -> Self {
        Self {
            now,
            token,
            loaded: None,
            detached: None,
            moved_from: None,
            failed_check: None,
            refresh_to: None,
            seen_due: false,
            expected_revision: None,
            destroy: false,
            destroys: 0,
            finished: false,
            unsaved_handles: 0,
            unsaved_type: None,
            token_kept: false,
            changes: None,
            ended: None,
        }
    }

    pub(crate) fn loaded(
        now: Timestamp,
        key_index: usize,
        record: SessionRecord,
        refresh_to: Option<Timestamp>,
    ) -> Self {
        let mut state = Self::empty(now, TokenStatus::Valid { key_index });
        state.loaded = Some(record);
        state.refresh_to = refresh_to;
        state
    }

    fn changes_mut(&mut self) -> &mut Changes {
        self.changes.get_or_insert_with(Box::default)
    }

    fn rotation(&self) -> Option<&Rotation> {
        self.changes.as_ref().and_then(|c| c.rotation.as_ref())
    }

    fn is_removed(&self, name: &str) -> bool {
        self.changes
            .as_ref()
            .is_some_and(|c| c.removed_fields.iter().any(|f| &**f == name))
    }

    fn is_taken(&self, name: &str) -> bool {
        self.changes
            .as_ref()
            .is_some_and(|c| c.taken_flash.contains(name))
    }

    /// The time of the request.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// What the request's token was.
    pub fn token_status(&self) -> TokenStatus {
        self.token
    }

    /// The session id the client holds or will hold after persist; `None` for a
    /// session not created yet.
    pub fn id(&self) -> Option<SessionId> {
        if self.destroy {
            return None;
        }
        match self.rotation() {
            Some(r) => Some(r.new_id),
            None => self.record().map(|r| r.id),
        }
    }

    /// The record as loaded, unless its data was found invalid.
    pub fn record(&self) -> Option<&SessionRecord> {
        self.loaded.as_ref().filter(|_| self.detached.is_none())
    }

    /// The id of the stored record the token named, also when its data was
    /// found invalid or did not decode: the record is still in the store
    /// then, maybe holding a login, and a logout or login must delete it.
    pub fn stored_id(&self) -> Option<SessionId> {
        self.loaded.as_ref().map(|r| r.id).or(self.detached)
    }

    /// The stored session this request goes on with, which revoking the
    /// user's other sessions must keep: while a rotation that moves it is
    /// pending, the loaded record (persist writes the new one from it and
    /// needs it still there); otherwise [`id`](Self::id), or the loaded
    /// record's id when its data was found invalid (not a record that did
    /// not decode: no request goes on with that one).
    pub fn continued_id(&self) -> Option<SessionId> {
        let loaded = self.loaded.as_ref().map(|r| r.id);
        match self.rotation() {
            // (`destroy` drops a pending rotation: none is here then.)
            Some(r) if !r.login => loaded,
            _ => self.id().or(loaded),
        }
    }

    /// Whether a stored session was loaded and is in use.
    pub fn is_loaded(&self) -> bool {
        self.record().is_some()
    }

    /// The user binding, including one made by a login in this request.
    pub fn binding(&self) -> Option<&Binding> {
        if self.destroy {
            return None;
        }
        match self.rotation() {
            Some(r) => r.binding.as_ref(),
            None => self.record().and_then(|r| r.binding.as_deref()),
        }
    }

    /// When the user of [`binding`](Self::binding) logged in: the time a
    /// login made the session (a rotation since keeps it), or this
    /// request's time for a login in this request. `None` without a
    /// binding (an anonymous session, one being logged out).
    pub fn logged_in_at(&self) -> Option<Timestamp> {
        if self.destroy {
            return None;
        }
        match self.rotation() {
            Some(r) if r.login => r.binding.as_ref().map(|_| self.now),
            Some(r) => r.binding.as_ref().and(self.record()).map(|l| l.created_at),
            None => self
                .record()
                .filter(|r| r.binding.is_some())
                .map(|r| r.created_at),
        }
    }

    /// The current value of a stored field: this request's change, else the loaded value.
    pub fn field(&self, name: &str) -> Option<&str> {
        if self.is_removed(name) {
            return None;
        }
        self.changes
            .as_ref()
            .and_then(|c| c.set_fields.get(name))
            .or_else(|| self.loaded_field(name))
    }

    /// What this request's changes apply to: the loaded record, or nothing
    /// once a login that carries nothing over (another user's, or one on a
    /// session of its own) is pending, as the new session starts empty.
    pub(crate) fn base(&self) -> Option<&SessionRecord> {
        self.record()
            .filter(|_| !self.destroy && self.rotation().is_none_or(|r| r.carry))
    }

    /// The value a field had before this request's changes (see
    /// [`base`](Self::base)); changes are compared with it.
    pub(crate) fn loaded_field(&self, name: &str) -> Option<&str> {
        self.base().and_then(|r| r.fields.get(name))
    }

    /// Every field as the request sees it now.
    pub fn fields(&self) -> FieldMap {
        let mut fields = self.base().map(|r| r.fields.clone()).unwrap_or_default();
        if let Some(c) = &self.changes {
            fields.apply(&c.set_fields, &c.removed_fields);
        }
        fields
    }

    /// The flash the next request will see: what was loaded, minus what this
    /// request took, plus what it set.
    pub(crate) fn next_flash(&self) -> FieldMap {
        let mut flash = self.base().map(|r| r.flash.clone()).unwrap_or_default();
        if let Some(c) = &self.changes {
            flash.apply(&c.set_flash, &[]);
            flash.remove_unchanged(&c.flash_removals());
        }
        flash
    }

    /// Whether a pending login drops the loaded data (another user's, or a
    /// session of its own): handles must not start from it.
    pub(crate) fn drops_loaded(&self) -> bool {
        self.destroy || self.rotation().is_some_and(|r| !r.carry)
    }

    pub(crate) fn has_pending_field_changes(&self) -> bool {
        self.changes.as_ref().is_some_and(|c| c.touches_fields())
    }

    /// Sets a stored field's JSON value (type-erased access; typed code uses
    /// `Session<T>`, and [`SessionValues`](crate::SessionValues) encodes
    /// values itself). `value` must be JSON text: it is stored as it is,
    /// and not every store checks it (the file store refuses other text at
    /// persist as a record that does not encode; the memory store keeps it,
    /// and a later read of the field fails to decode).
    pub fn set_field(&mut self, name: &str, value: impl Into<Box<str>>) {
        let value = value.into();
        if self.loaded_field(name) == Some(&*value) {
            let changes = self.changes_mut();
            changes.removed_fields.retain(|f| &**f != name);
            changes.set_fields.remove(name);
        } else {
            self.set_changed_field(name, value);
        }
    }

    /// [`set_field`](Self::set_field) with a value the caller found to
    /// differ from the loaded one.
    pub(crate) fn set_changed_field(&mut self, name: &str, value: Box<str>) {
        let changes = self.changes_mut();
        changes.removed_fields.retain(|f| &**f != name);
        changes.set_fields.insert(name, value);
    }

    /// Removes a stored field.
    pub fn remove_field(&mut self, name: &str) {
        let stored = self.loaded_field(name).is_some();
        let changes = self.changes_mut();
        changes.set_fields.remove(name);
        if stored && !changes.removed_fields.iter().any(|f| &**f == name) {
            changes.removed_fields.push(name.into());
        }
    }

    /// Forgets a field change (the value went back to what was loaded).
    pub(crate) fn revert_field(&mut self, name: &str) {
        if let Some(changes) = &mut self.changes {
            changes.set_fields.remove(name);
            changes.removed_fields.retain(|f| &**f != name);
        }
    }

    /// Stores a flash value (JSON) for a later request.
    pub fn set_flash(&mut self, name: &str, value: impl Into<Box<str>>) {
        self.changes_mut().set_flash.insert(name, value);
    }

    /// Takes a flash value stored by an earlier request: it is returned once and
    /// removed at persist. Flash set by this request is not visible until the next.
    pub fn take_flash(&mut self, name: &str) -> Option<Box<str>> {
        if self.is_taken(name) {
            return None;
        }
        let value: Box<str> = self.base()?.flash.get(name)?.into();
        self.changes_mut().taken_flash.insert(name, value.clone());
        Some(value)
    }

    /// Reads a flash value without taking it.
    pub fn peek_flash(&self, name: &str) -> Option<&str> {
        if self.is_taken(name) {
            return None;
        }
        self.base()?.flash.get(name)
    }

    /// Moves the session to a new id bound to `binding` (login); the old id
    /// is deleted after the new record is written. Data and flash carry over
    /// from an anonymous session or one of the same user; a session of
    /// another user passes on only this request's changes.
    pub fn login(&mut self, binding: Binding) -> SessionId {
        // A session logged out in this request passes nothing on either.
        let same_user = !self.destroy
            && self
                .binding()
                .is_none_or(|current| current.user_id == binding.user_id);
        let carry = same_user && self.rotation().is_none_or(|r| r.carry);
        let replace_old = self.rotation().is_none_or(|r| r.replace_old);
        self.rotate_with(Some(binding), true, carry, replace_old)
    }

    /// Logs in on a session of its own (a bearer token handed out to a
    /// client that came with a browser's cookie, say): the loaded session
    /// stays as it is, and the new one gets only this request's changes.
    /// Persist's [`CookieAction`](crate::CookieAction) then names the new
    /// session: a layer that hands its token out in the body leaves the
    /// client's cookie as it is (see [`web`](crate::web)).
    pub fn login_apart(&mut self, binding: Binding) -> SessionId {
        // After a logout, the loaded session is deleted all the same.
        let replace_old = self.destroys != 0;
        self.rotate_with(Some(binding), true, false, replace_old)
    }

    /// Moves the session to a new id keeping its binding, age and expiry
    /// (so the absolute limit still counts from its creation). `None`, and
    /// nothing changes, when there is no stored session to move (none was
    /// loaded, its data was found invalid, or it is being destroyed): a new
    /// session gets a fresh id anyway.
    pub fn rotate(&mut self) -> Option<SessionId> {
        if self.destroy || (self.record().is_none() && self.rotation().is_none()) {
            return None;
        }
        let binding = self.binding().cloned();
        // After a login in this request, the move is still that login.
        let (login, carry, replace_old) = self
            .rotation()
            .map_or((false, true, true), |r| (r.login, r.carry, r.replace_old));
        Some(self.rotate_with(binding, login, carry, replace_old))
    }

    fn rotate_with(
        &mut self,
        binding: Option<Binding>,
        login: bool,
        carry: bool,
        replace_old: bool,
    ) -> SessionId {
        let new_id = SessionId::generate();
        self.destroy = false;
        self.changes_mut().rotation = Some(Rotation {
            new_id,
            binding,
            login,
            carry,
            replace_old,
        });
        new_id
    }

    /// Deletes the session at persist (logout). Changes made in this request
    /// so far, flash included, go with it. Data or flash written after it
    /// (a "signed out" message, say) start a new anonymous session holding
    /// only those, whose cookie replaces the cleared one; a `login` after
    /// it starts a new session too, from nothing of this one. A response
    /// that is not persisted (a 5xx) deletes nothing: a logout also deletes
    /// the record at once with
    /// [`SessionService::destroy_session`](crate::SessionService::destroy_session)
    /// (a server-side store's; a client-side store's session is its cookie,
    /// which only a persisted response clears).
    pub fn destroy(&mut self) {
        self.destroy = true;
        self.destroys = self.destroys.wrapping_add(1);
        // The handles changed so far hold the logged-out session's data,
        // which is not to be saved.
        self.unsaved_handles = 0;
        self.unsaved_type = None;
        // A refusal of the stored data goes with it: what follows is a new
        // session's.
        self.failed_check = None;
        if let Some(changes) = self.changes.take().filter(|c| !c.set_flash.is_empty()) {
            tracing::debug!(
                flash = changes.set_flash.len(),
                "flash set before a logout is dropped with the session"
            );
        }
    }

    /// Whether the session will be destroyed.
    pub fn is_destroyed(&self) -> bool {
        self.destroy
    }

    /// Makes the save conditional on the stored revision being the one loaded
    /// (compare-and-set); persist then fails with a conflict if another request
    /// saved in between, or as unsupported on a store without compare-and-set.
    pub fn require_unchanged_revision(&mut self) {
        self.expected_revision = self.record().map(|r| r.revision);
    }

    /// Whether persist would write data (not counting an expiry refresh).
    pub fn is_modified(&self) -> bool {
        self.destroy
            || self.changes.as_ref().is_some_and(|c| {
                c.rotation.is_some()
                    || c.touches_fields()
                    || !c.set_flash.is_empty()
                    || !c.taken_flash.is_empty()
            })
    }

    /// Marks the loaded data invalid: it stays in the store untouched, and the
    /// request continues as if it had no session.
    pub(crate) fn detach(&mut self) {
        if let Some(record) = &self.loaded {
            self.detached = Some(record.id);
        }
    }

    pub(crate) fn record_commit_error(&mut self, error: SessionDataError) {
        let changes = self.changes_mut();
        if changes.commit_error.is_none() {
            changes.commit_error = Some(error);
        }
    }

    /// Ends the request without persist when there is nothing to do: no
    /// change, no refresh due, no cookie to re-sign or clear. Returns whether
    /// it did; if not, call persist.
    pub fn try_settle(&mut self) -> bool {
        let settled = !self.finished
            && self.changes.is_none()
            && !self.destroy
            && self.refresh_to.is_none()
            && !self.seen_due
            && matches!(
                self.token,
                TokenStatus::Absent | TokenStatus::Gone | TokenStatus::Valid { .. }
            )
            && !self.reissues();
        if settled {
            self.finish();
        }
        settled
    }

    /// Marks persist as done, and reports a typed handle whose changes it
    /// cannot see: borrowed mutably and not committed, the handle was moved
    /// out of its handler (into a stream, a WebSocket, a task) and its
    /// changes are lost. Said now, with the request, rather than when the
    /// handle drops.
    pub(crate) fn finish(&mut self) {
        self.finished = true;
        if self.unsaved_handles > 0 {
            tracing::error!(
                handles = self.unsaved_handles,
                data = self.unsaved_type.unwrap_or_default(),
                "a Session<T> handle borrowed mutably and not committed is still open at persist (moved into a stream, a WebSocket upgrade or a task?): changes made through it are not saved; call commit() before moving it"
            );
        }
    }

    /// A typed handle of `data` borrowed mutably since its last commit.
    pub(crate) fn handle_changing(&mut self, data: &'static str) {
        self.unsaved_handles = self.unsaved_handles.saturating_add(1);
        self.unsaved_type.get_or_insert(data);
    }

    /// A typed handle that [`handle_changing`](Self::handle_changing)
    /// reported committed; one made before a logout (`epoch`, the logouts
    /// then) was uncounted by it.
    pub(crate) fn handle_committed(&mut self, epoch: u32) {
        if epoch == self.destroys {
            self.unsaved_handles = self.unsaved_handles.saturating_sub(1);
            if self.unsaved_handles == 0 {
                self.unsaved_type = None;
            }
        }
    }

    /// The client keeps the token it sent and takes no new one unasked (a
    /// bearer client): a token verified by an older key is not re-signed,
    /// and a read writes nothing for it.
    pub fn keep_token(&mut self) {
        self.token_kept = true;
    }

    /// Whether persist re-signs the token: verified by an older key, and
    /// the client takes a new one.
    pub(crate) fn reissues(&self) -> bool {
        !self.token_kept && matches!(self.token, TokenStatus::Valid { key_index } if key_index != 0)
    }

    /// Whether a logout ran in this request (also when a login followed):
    /// the session the client came with is gone.
    pub fn logged_out(&self) -> bool {
        self.destroys != 0
    }

    /// Whether persist would start a new session that no login made: data or
    /// flash written while no stored session is in use. Its token can reach
    /// the client only in a cookie. (When the token named a session moved by
    /// a login elsewhere, persist drops the write instead.)
    pub fn starts_anonymous_session(&self) -> bool {
        !self.finished
            && !self.destroy
            && self.record().is_none()
            && self.changes.as_ref().is_some_and(|c| {
                c.rotation.is_none() && (!c.set_fields.is_empty() || !c.set_flash.is_empty())
            })
    }

    /// Ends the request's session without writing anything: its changes are
    /// dropped and persist does nothing.
    pub fn discard(&mut self) {
        self.changes = None;
        self.finished = true;
    }

    /// Whether persist already ran.
    pub fn is_finished(&self) -> bool {
        self.finished
    }
}

/// A shared handle to a [`SessionState`]: the web layer keeps one per request,
/// extractors and typed handles share it.
#[derive(Clone, Debug)]
pub struct SessionCell(Arc<Mutex<SessionState>>);

impl SessionCell {
    pub(crate) fn new(state: SessionState) -> Self {
        Self(Arc::new(Mutex::new(state)))
    }

    /// Locks the state. Keep the guard short and never across an `.await`.
    pub fn lock(&self) -> impl std::ops::DerefMut<Target = SessionState> + '_ {
        self.0.lock()
    }
}
