//! [`SessionValues`]: session data as named JSON values, without a type.

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::data::{decode_raw, encode_value};
use crate::session::{flash_value, take_flash_value};
use crate::state::SessionCell;
use crate::{SessionDataError, SessionId};

/// A request's session data as named values, each stored as JSON under its
/// key: Remix's and astro-session's `get`/`set`/`unset`, and
/// tower-sessions' `get`/`insert`/`remove`, for data without a type of its
/// own. [`Session<T>`](crate::Session) is the typed, checked form.
///
/// A key is a stored field like a typed field: a write goes to the store
/// at persist only when the value differs from the stored one, a request
/// that only reads creates nothing, and a typed type with a field of the
/// same name reads and writes the same value. Reads see this request's
/// writes.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use session_core::{Key, MemoryStore, SessionService, SessionValues};
///
/// let sessions = SessionService::builder().store(MemoryStore::new()).key(Key::generate()).build()?;
/// let values = SessionValues::new(sessions.load(None).await?);
/// assert_eq!(values.get::<u64>("visits")?, None);
/// values.insert("visits", &1u64)?;
/// values.insert("theme", "dark")?;
/// let token = sessions.persist(values.cell()).await?.cookie; // creates the session
/// # let session_core::CookieAction::Set { token, .. } = token else { panic!() };
///
/// let again = SessionValues::new(sessions.load(Some(&token)).await?);
/// assert_eq!(again.get::<u64>("visits")?, Some(1));
/// assert!(again.remove("theme"));
/// assert_eq!(again.keys(), ["visits"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct SessionValues {
    cell: SessionCell,
}

impl SessionValues {
    /// The values of the session in `cell`.
    pub fn new(cell: SessionCell) -> Self {
        Self { cell }
    }

    /// The shared session state, for persist.
    pub fn cell(&self) -> &SessionCell {
        &self.cell
    }

    /// The value under `key`; `None` when there is none. A stored value that
    /// does not decode as `V` is an error naming the key.
    pub fn get<V: DeserializeOwned>(&self, key: &str) -> Result<Option<V>, SessionDataError> {
        let state = self.cell.lock();
        state.field(key).map(|raw| decode_raw(key, raw)).transpose()
    }

    /// Stores `value` under `key`, given as a value (`format!(..)`) or a
    /// reference (`&cart`). A value that does not encode (a map with keys
    /// that are not strings, a NaN) is an error, and nothing changes.
    pub fn insert<V: Serialize>(&self, key: &str, value: V) -> Result<(), SessionDataError> {
        let encoded = encode_value(key, &value)?;
        self.cell.lock().set_field(key, encoded);
        Ok(())
    }

    /// Removes `key`; whether it held a value.
    pub fn remove(&self, key: &str) -> bool {
        let mut state = self.cell.lock();
        let held = state.field(key).is_some();
        state.remove_field(key);
        held
    }

    /// Whether `key` holds a value.
    pub fn contains(&self, key: &str) -> bool {
        self.cell.lock().field(key).is_some()
    }

    /// Stores a flash value, readable once by a later request
    /// ([`Session::flash`](crate::Session::flash) without a type), given as
    /// a value or a reference.
    pub fn flash<V: Serialize>(&self, key: &str, value: V) -> Result<(), SessionDataError> {
        flash_value(&self.cell, key, &value)
    }

    /// Takes a flash value stored by an earlier request, as
    /// [`Session::take_flash`](crate::Session::take_flash) does.
    pub fn take_flash<V: DeserializeOwned>(&self, key: &str) -> Option<V> {
        take_flash_value(&self.cell, key)
    }

    /// Removes every value (tower-sessions' `clear`): the session stays,
    /// with its login and flash. [`destroy`](Self::destroy) ends it.
    pub fn clear(&self) {
        let mut state = self.cell.lock();
        let fields = state.fields();
        for key in fields.names() {
            state.remove_field(key);
        }
    }

    /// Moves the session to a new id at persist, keeping its data and
    /// login (tower-sessions' `cycle_id`; a login does it by itself); the
    /// new id, or `None` when there is no stored session to move. See
    /// [`SessionState::rotate`](crate::SessionState::rotate).
    pub fn rotate(&self) -> Option<SessionId> {
        self.cell.lock().rotate()
    }

    /// Deletes the session at persist (tower-sessions' `flush`); values set
    /// after it start a new session. See
    /// [`SessionState::destroy`](crate::SessionState::destroy); in a web
    /// app, `Auth::logout` deletes it at once instead.
    pub fn destroy(&self) {
        self.cell.lock().destroy();
    }

    /// The session id the client holds or will hold after persist; `None`
    /// for a session not created yet.
    pub fn session_id(&self) -> Option<SessionId> {
        self.cell.lock().id()
    }

    /// The keys that hold values, in name order.
    pub fn keys(&self) -> Vec<String> {
        let fields = self.cell.lock().fields();
        fields.names().map(str::to_owned).collect()
    }
}

impl fmt::Debug for SessionValues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionValues")
            .field("keys", &self.keys())
            .finish_non_exhaustive()
    }
}
