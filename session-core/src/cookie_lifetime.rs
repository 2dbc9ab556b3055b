//! How long the browser keeps a logged-in session's cookie: the "remember
//! me" choice of a login form, kept with the session's [`Binding`](crate::Binding).

use serde::{Deserialize, Serialize};

/// How long the browser keeps the cookie of a logged-in session, chosen at
/// login ([`Binding::with_cookie_lifetime`](crate::Binding::with_cookie_lifetime)).
///
/// It is stored with the session, so every later cookie of that session
/// (a sliding refresh, a re-signing after a key rotation) keeps it. It ends
/// with the login: a logout, and a session that was never logged in, follow
/// the app's cookie settings. It leaves the server-side expiry alone: a
/// browser-session cookie only makes the browser forget the session sooner,
/// when it closes. A login sets the session's own lifetime apart, with
/// [`Binding::with_lifetime`](crate::Binding::with_lifetime).
///
/// ```
/// use session_core::{Binding, CookieLifetime};
///
/// let remember_me_checked = false;
/// let binding = Binding::user("ada")
///     .with_cookie_lifetime(CookieLifetime::remember_me(remember_me_checked));
/// assert_eq!(binding.cookie_lifetime, CookieLifetime::BrowserSession);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CookieLifetime {
    /// As the app's cookie settings say (a cookie with `Max-Age` by default).
    #[default]
    AppDefault,
    /// Until the browser closes: the cookie carries no `Max-Age`.
    BrowserSession,
    /// Until the session expires: the cookie's `Max-Age` follows the
    /// session's expiry, even where the app's cookies are browser-session ones.
    UntilExpiry,
}

impl CookieLifetime {
    /// A "remember me" box: checked, the cookie lasts until the session
    /// expires; unchecked, until the browser closes.
    pub fn remember_me(checked: bool) -> Self {
        if checked {
            Self::UntilExpiry
        } else {
            Self::BrowserSession
        }
    }

    /// Whether the cookie carries a `Max-Age`, where the app's default is
    /// `persistent`.
    pub fn is_persistent(self, persistent: bool) -> bool {
        match self {
            Self::AppDefault => persistent,
            Self::BrowserSession => false,
            Self::UntilExpiry => true,
        }
    }

    pub(crate) fn is_app_default(&self) -> bool {
        *self == Self::AppDefault
    }
}
