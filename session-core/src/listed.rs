//! One of a user's sessions as a page of their sessions shows it.

use serde::Serialize;

use crate::{CookieLifetime, SessionHandle, Timestamp};

/// One of a user's sessions as a page listing them shows it: its
/// [`SessionHandle`] in place of its id, so the list can go to the
/// browser as it is (`Json(list)`), and whether it is the session of the
/// request asking. From
/// [`SessionService::list_with_handles`](crate::SessionService::list_with_handles).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ListedSession {
    /// Names the session to [`SessionService::revoke_by_handle`](crate::SessionService::revoke_by_handle).
    pub handle: SessionHandle,
    /// The label its login gave (a device name, say).
    pub label: Option<String>,
    /// The meta its login gave.
    pub meta: Option<serde_json::Value>,
    /// When its login made it.
    pub created_at: Timestamp,
    /// Its last recorded use.
    pub last_seen: Timestamp,
    /// When it expires unless used again.
    pub expires_at: Timestamp,
    /// When it ends however much it is used: its absolute limit (its
    /// login's own, else the policy's) after its login; `None` without one.
    pub ends_at: Option<Timestamp>,
    /// How long its browser keeps the cookie ("remember me").
    pub cookie_lifetime: CookieLifetime,
    /// Whether it is the session of the request that listed it.
    pub current: bool,
}
