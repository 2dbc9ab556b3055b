//! Framework-agnostic typed sessions.
//!
//! - [`SessionData`]: typed data stored field by field, with change tracking
//!   ([`Session<T>`] handles, `#[session_data]` in `session-macros`;
//!   without `session-axum`, `#[session_data(crate = session_core)]`).
//! - [`SessionValues`]: the same data as named JSON values, without a type.
//! - [`SessionService`]: load, get-or-create (lazily), persist only what
//!   changed, destroy, login with id rotation, per-user listing and revocation
//!   (by id, or by a [`SessionHandle`] that a page may show).
//! - [`ExpiryPolicy`]: initial and full lifetime, sliding refresh, absolute
//!   limit; a login may set its session's own lifetime and, for the cookie,
//!   a [`CookieLifetime`] ("remember me") on its [`Binding`].
//! - [`token`]: HMAC-signed tokens with key rotation, cookie-name binding and
//!   bearer helpers.
//! - [`SessionStore`]: the store contract, with [`MemoryStore`] built in.
//! - [`web`]: the steps a web layer takes around the service on each
//!   request (which token, when to persist, the cookie, statuses), and the
//!   framework-free pieces of them.
//!
//! A request cycle without any web framework:
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use session_core::{CookieAction, Key, MemoryStore, SessionService, Tracked};
//! # use session_core::{FieldMap, FieldValue, SessionData, SessionDataError};
//! # use session_core::data::{decode_value, encode_value};
//! # #[derive(Default)] struct Visits { count: u64 }
//! # impl SessionData for Visits {
//! #     type Tracked = Tracked<Self>;
//! #     const FIELDS: &'static [&'static str] = &["count"];
//! #     fn encode_field(&self, i: usize) -> Result<FieldValue, SessionDataError> {
//! #         match i { 0 => encode_value("count", &self.count), _ => Err(SessionDataError::UnknownField(i)) }
//! #     }
//! #     fn decode(f: &FieldMap) -> Result<Self, SessionDataError> {
//! #         Ok(Self { count: decode_value(f, "count")?.unwrap_or_default() })
//! #     }
//! # }
//!
//! let sessions = SessionService::builder()
//!     .store(MemoryStore::new())
//!     .key(Key::generate())
//!     .build()?;
//!
//! // First request: no token. Count a visit; persist creates the session.
//! let mut visit = sessions.get::<Visits>(None).await?;
//! visit.update(|v| v.count += 1);
//! let CookieAction::Set { token, .. } = sessions.commit(&mut visit).await?.cookie else { panic!() };
//!
//! // Second request: the token loads the count.
//! let again = sessions.get::<Visits>(Some(&token)).await?;
//! assert_eq!(again.count, 1);
//! # Ok::<(), session_core::SessionError>(())
//! # }).unwrap();
//! ```
//!
//! A bearer client (`Authorization: Bearer <token>`) keeps the token it was
//! handed and takes no cookie, so a request whose token no longer names a
//! session (revoked, expired) must not start a new one when it writes: its
//! token could never reach the client. `session-axum` answers such a
//! request 401; on `session-core` alone:
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use session_core::token::bearer_token;
//! use session_core::{Binding, Key, MemoryStore, PersistOutcome, SessionService};
//!
//! let sessions = SessionService::builder()
//!     .store(MemoryStore::new())
//!     .key(Key::generate())
//!     .build()?;
//! let id = sessions.create_session(Binding::user("ada").with_label("cli")).await?;
//! let header = sessions.bearer_for(&id); // "Bearer <token>", handed to the client
//! sessions.revoke("ada", &id).await?;
//!
//! // A later request with that header.
//! let cell = sessions.load(bearer_token(&header)).await?;
//! cell.lock().keep_token(); // no re-signed token for a bearer client
//! cell.lock().set_field("count", "1"); // the handler writes
//! if cell.lock().starts_anonymous_session() {
//!     cell.lock().discard(); // and the request is answered 401
//! }
//! assert_eq!(sessions.persist(&cell).await?.outcome, PersistOutcome::Unchanged);
//! assert!(sessions.list_for_user("ada").await?.is_empty());
//! # Ok::<(), session_core::SessionError>(())
//! # }).unwrap();
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

pub mod clock;
mod cookie_lifetime;
pub mod data;
mod error;
pub mod expiry;
mod handle;
pub mod id;
mod listed;
pub mod record;
pub mod service;
mod session;
pub mod state;
pub mod store;
pub mod summary;
pub mod token;
mod values;
pub mod web;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use clock::{Clock, MockClock, SystemClock, Timestamp};
pub use cookie_lifetime::CookieLifetime;
pub use data::{FieldMap, FieldValue, SessionData, SessionDataError, Tracked, TrackedData};
pub use error::SessionError;
pub use expiry::{ExpiryError, ExpiryPolicy};
pub use handle::{SessionHandle, SessionHandleError};
pub use id::SessionId;
pub use listed::ListedSession;
pub use record::{
    Binding, Page, PageRequest, SaveOutcome, SessionInfo, SessionPatch, SessionRecord,
};
pub use service::{CookieAction, InvalidDataPolicy, PersistOutcome, Persisted, SessionService};
pub use session::Session;
pub use state::{SessionCell, SessionState, TokenStatus};
pub use store::{Capabilities, ClientSide, CookieStore, MemoryStore, SessionStore, StoreError};
pub use token::{Key, KeyError, SigningKeys, TokenError, TokenSigner};
pub use values::SessionValues;

/// Items `#[session_data(crate = session_core)]` code names. Not public API.
#[doc(hidden)]
pub mod __private {
    pub use crate as session_core;
    pub use serde;
    pub use serde_json;
}
