//! The demo's session data types. Each is stored field by field, so several
//! types share one session without stepping on each other.

use session_axum::session_data;

/// astro-session's visit counter.
#[session_data]
#[derive(Debug, Clone, Default)]
pub struct Visits {
    /// Page views of `/`.
    pub count: u64,
}

/// Travetto's `SessionData` sample (`PUT /session/info`).
#[session_data]
#[derive(Debug, Clone, Default)]
pub struct Info {
    /// Set to "Roger" by `PUT /session/info`.
    pub name: Option<String>,
    /// Set to 20 by `PUT /session/info`.
    pub age: Option<u32>,
}

/// hexancore's tracked `SessionData`: `field` defaults to "test", the group
/// and the authenticated flag come from the data. Its `c(plain)` refuses
/// stored data whose `field` is not a string: here that is the typed
/// decode, which the app checks at load (`check_data`). A missing `field`
/// takes its default, as every field of stored data does.
#[session_data(group_id = group_id, authenticated = auth)]
#[derive(Debug, Clone)]
pub struct Account {
    /// A plain field with a non-trivial default.
    pub field: String,
    /// Set at login.
    pub auth: bool,
    /// The user's group, set at login.
    pub group_id: Option<String>,
}

impl Default for Account {
    fn default() -> Self {
        Self {
            field: "test".to_owned(),
            auth: false,
            group_id: None,
        }
    }
}
