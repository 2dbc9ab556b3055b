//! The session cookie: its attributes, reading it from requests, writing it to responses.

use std::borrow::Cow;

use cookie::{Cookie, SameSite};
use http::{HeaderMap, HeaderValue, header};
use session_core::web::max_age_secs;
use session_core::{CookieAction, CookieLifetime, Timestamp};

/// Session cookie attributes.
///
/// Defaults: name `id`, `Path=/`, `HttpOnly`, `SameSite=Lax`, `Secure`, and a
/// `Max-Age` that follows the session's expiry. Turn `secure` off only for
/// plain-HTTP development.
#[derive(Debug, Clone)]
pub struct CookieConfig {
    /// Cookie name; it is bound into token signatures.
    pub name: String,
    /// `Path`.
    pub path: String,
    /// `Domain`, if any.
    pub domain: Option<String>,
    /// `Secure`.
    pub secure: bool,
    /// `HttpOnly`.
    pub http_only: bool,
    /// `SameSite`.
    pub same_site: SameSite,
    /// Whether the cookie carries `Max-Age` (otherwise it is a
    /// browser-session cookie), unless a login chose otherwise with its
    /// [`CookieLifetime`].
    pub persistent: bool,
}

impl Default for CookieConfig {
    fn default() -> Self {
        Self {
            name: session_core::service::DEFAULT_COOKIE_NAME.to_owned(),
            path: "/".to_owned(),
            domain: None,
            secure: true,
            http_only: true,
            same_site: SameSite::Lax,
            persistent: true,
        }
    }
}

/// Why a [`CookieConfig`] cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("session cookie `{name}`: {reason}")]
pub struct CookieConfigError {
    /// The configured name.
    pub name: String,
    /// What is wrong.
    pub reason: Cow<'static, str>,
}

impl CookieConfig {
    /// Checks what a browser would misread: a name that is not an RFC 6265
    /// token (it would never come back as configured), a path or domain
    /// that would end the attribute list or hold control characters, a path
    /// or domain over 1024 bytes (browsers ignore it), `SameSite=None` without `Secure` (browsers refuse such a cookie, so
    /// no session would ever stick), and the conditions of the `__Host-` and
    /// `__Secure-` name prefixes. It also checks that a server-side store's
    /// token (a signed session id) fits in the 4096 bytes browsers keep
    /// beside the name, path and domain; the app builder checks the room a
    /// client-side store's smallest session needs.
    pub fn validate(&self) -> Result<(), CookieConfigError> {
        let fail = |reason: &'static str| {
            Err(CookieConfigError {
                name: self.name.clone(),
                reason: reason.into(),
            })
        };
        let separator = |b: u8| b"()<>@,;:\\\"/[]?={} \t".contains(&b);
        if self.name.is_empty()
            || !self
                .name
                .bytes()
                .all(|b| b.is_ascii_graphic() && !separator(b))
        {
            return fail(
                "the name must be a token: visible ASCII without separators such as ; = , or spaces",
            );
        }
        let attribute = |text: &str| {
            text.bytes()
                .all(|b| (b' '..=b'~').contains(&b) && b != b';')
        };
        if !self.path.starts_with('/') || !attribute(&self.path) {
            return fail("the path must start with / and hold printable ASCII without ;");
        }
        if let Some(domain) = &self.domain
            && (domain.is_empty()
                || !domain
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-'))
        {
            return fail("the domain must be a host name (letters, digits, dots and hyphens)");
        }
        // Browsers ignore a longer attribute value (RFC 6265bis, 5.6), and
        // the cookie then falls back to the request's own path or host.
        if self.path.len() > MAX_ATTRIBUTE_BYTES
            || self
                .domain
                .as_ref()
                .is_some_and(|d| d.len() > MAX_ATTRIBUTE_BYTES)
        {
            return fail(
                "the path and the domain must be at most 1024 bytes: browsers ignore longer ones",
            );
        }
        if self.same_site == SameSite::None && !self.secure {
            return fail("SameSite=None needs Secure: browsers refuse the cookie without it");
        }
        // Browsers match the prefixes in any case.
        let prefixed = |prefix: &str| {
            self.name
                .get(..prefix.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
        };
        if prefixed("__Host-") && (!self.secure || self.path != "/" || self.domain.is_some()) {
            return fail("a __Host- cookie needs Secure, Path=/ and no Domain");
        }
        if prefixed("__Secure-") && !self.secure {
            return fail("a __Secure- cookie needs Secure");
        }
        self.check_token_room(SERVER_TOKEN_ROOM, "a session token")
    }

    /// Checks that a token of `token_bytes` (`what`, for the error) fits
    /// beside the name, path, domain and the widest `Max-Age`. Else every
    /// session would be written, then fail as its cookie is set.
    pub(crate) fn check_token_room(
        &self,
        token_bytes: usize,
        what: &str,
    ) -> Result<(), CookieConfigError> {
        let limit = session_core::store::cookie::MAX_COOKIE_BYTES;
        let taken = self.clear_cookie().len() + MAX_AGE_DIGITS;
        if taken + token_bytes <= limit {
            return Ok(());
        }
        let left = limit.saturating_sub(taken);
        Err(CookieConfigError {
            name: self.name.clone(),
            reason: format!(
                "the name, path and domain leave {left} of the {limit} bytes browsers keep for \
                 the cookie's value; {what} needs {token_bytes}"
            )
            .into(),
        })
    }

    fn build<'c>(&'c self, value: &'c str) -> Cookie<'c> {
        // Borrowed: a `Set-Cookie` is built on every new or refreshed session.
        let mut cookie = Cookie::new(self.name.as_str(), value);
        cookie.set_path(self.path.as_str());
        if let Some(domain) = &self.domain {
            cookie.set_domain(domain.as_str());
        }
        cookie.set_secure(self.secure);
        cookie.set_http_only(self.http_only);
        cookie.set_same_site(self.same_site);
        cookie
    }

    /// The `Set-Cookie` value carrying `token` until `expires_at` (with the
    /// app's [`persistent`](Self::persistent) choice).
    pub fn set_cookie(&self, token: &str, expires_at: Timestamp, now: Timestamp) -> String {
        self.set_cookie_for(token, expires_at, CookieLifetime::AppDefault, now)
    }

    /// With a `Max-Age` when `lifetime` (or, for
    /// [`CookieLifetime::AppDefault`], `persistent`) says so.
    fn set_cookie_for(
        &self,
        token: &str,
        expires_at: Timestamp,
        lifetime: CookieLifetime,
        now: Timestamp,
    ) -> String {
        let mut cookie = self.build(token);
        if lifetime.is_persistent(self.persistent) {
            cookie.set_max_age(cookie::time::Duration::seconds(
                i64::try_from(max_age_secs(expires_at, now)).unwrap_or(i64::MAX),
            ));
        }
        render(&cookie)
    }

    /// Bytes a `Set-Cookie` for `action` is measured with beyond its own:
    /// room for its `Max-Age` to grow to [`MAX_AGE_DIGITS`], so that a later
    /// refresh of a session that was accepted still fits.
    fn max_age_room(&self, action: &CookieAction, now: Timestamp) -> usize {
        match action {
            CookieAction::Set {
                expires_at,
                lifetime,
                ..
            } if lifetime.is_persistent(self.persistent) => {
                let digits = max_age_secs(*expires_at, now).checked_ilog10().unwrap_or(0) + 1;
                MAX_AGE_DIGITS.saturating_sub(digits as usize)
            }
            _ => 0,
        }
    }

    /// The `Set-Cookie` value that removes the cookie (same attributes, `Max-Age=0`).
    pub fn clear_cookie(&self) -> String {
        let mut cookie = self.build("");
        cookie.set_max_age(cookie::time::Duration::ZERO);
        render(&cookie)
    }

    /// Every value of this cookie in the request's `Cookie` headers, in order.
    ///
    /// Works on bytes: another cookie with bytes outside visible ASCII (which
    /// some sites set) does not hide the session cookie in the same header.
    /// A value of this cookie that is not UTF-8 (no token is) comes out as
    /// `""`: it was sent, and is refused like any other malformed token.
    pub fn tokens<'h>(
        &self,
        headers: &'h HeaderMap,
    ) -> impl Iterator<Item = &'h str> + Send + use<'h, '_> {
        let values = headers.get_all(header::COOKIE).into_iter();
        session_core::web::cookie_values(values.map(HeaderValue::as_bytes), &self.name)
    }

    /// The `Set-Cookie` value for `action`, `None` for [`CookieAction::Keep`].
    pub fn header(&self, action: &CookieAction, now: Timestamp) -> Option<String> {
        match action {
            CookieAction::Keep => None,
            CookieAction::Set {
                token,
                expires_at,
                lifetime,
            } => Some(self.set_cookie_for(token, *expires_at, *lifetime, now)),
            CookieAction::Clear => Some(self.clear_cookie()),
        }
    }

    /// Adds the `Set-Cookie` header for `action` to `headers`. Refuses, with
    /// the size measured, a cookie longer than browsers keep (4096 bytes),
    /// measured as if its `Max-Age` had [`MAX_AGE_DIGITS`] digits: a session
    /// accepted once must not outgrow the limit when a refresh lengthens it.
    pub fn apply(
        &self,
        action: &CookieAction,
        now: Timestamp,
        headers: &mut HeaderMap,
    ) -> Result<(), usize> {
        let Some(value) = self.header(action, now) else {
            return Ok(());
        };
        let size = value.len() + self.max_age_room(action, now);
        if size > session_core::store::cookie::MAX_COOKIE_BYTES {
            return Err(size);
        }
        // From the `String` itself: its buffer becomes the header's, uncopied.
        match HeaderValue::try_from(value) {
            Ok(value) => {
                headers.append(header::SET_COOKIE, value);
            }
            Err(error) => tracing::error!(%error, "session cookie is not a valid header value"),
        }
        Ok(())
    }
}

/// Room checked for a server-side store's token (a signed session id, well
/// under this) beside the configured attributes.
const SERVER_TOKEN_ROOM: usize = 128;

/// The longest `Path` or `Domain` value browsers take.
const MAX_ATTRIBUTE_BYTES: usize = 1024;

/// The longest `Max-Age` sent (400 days, the most browsers keep a cookie,
/// whatever a longer one says; a session that lives longer gets its cookie
/// renewed by the visits that refresh it), and its digits.
pub use session_core::web::{MAX_AGE_DIGITS, MAX_AGE_SECS};

/// `cookie` as a `Set-Cookie` value, written into one buffer sized for a
/// typical session cookie instead of one grown piece by piece.
fn render(cookie: &Cookie<'_>) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(SET_COOKIE_CAPACITY);
    // Writing to a `String` cannot fail.
    let _ = write!(out, "{cookie}");
    out
}

/// Room for a signed id and the default attributes, with some to spare.
const SET_COOKIE_CAPACITY: usize = 160;

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_header_over_the_browser_limit_is_refused_even_when_the_value_fits() {
        use session_core::store::cookie::MAX_COOKIE_BYTES;
        let c = CookieConfig::default();
        let now = Timestamp::from_millis(1_000_000);
        let set = |len: usize| CookieAction::Set {
            token: "a".repeat(len),
            expires_at: now.plus(Duration::from_secs(60)),
            lifetime: CookieLifetime::AppDefault,
        };
        let mut headers = HeaderMap::new();
        // The value fits; with the name and attributes the header does not.
        let size = c
            .apply(&set(MAX_COOKIE_BYTES - 10), now, &mut headers)
            .unwrap_err();
        assert!(size > MAX_COOKIE_BYTES, "{size}");
        assert!(headers.get(header::SET_COOKIE).is_none());
        c.apply(&set(100), now, &mut headers).unwrap();
        assert!(headers.get(header::SET_COOKIE).is_some());
    }

    #[test]
    fn a_logins_cookie_lifetime_overrides_the_apps_choice_of_max_age() {
        let now = Timestamp::from_millis(1_000_000);
        let cases = [
            (true, CookieLifetime::AppDefault, true),
            (false, CookieLifetime::AppDefault, false),
            (true, CookieLifetime::BrowserSession, false),
            (false, CookieLifetime::BrowserSession, false),
            (true, CookieLifetime::UntilExpiry, true),
            (false, CookieLifetime::UntilExpiry, true),
        ];
        for (persistent, lifetime, max_age) in cases {
            let c = CookieConfig {
                persistent,
                ..CookieConfig::default()
            };
            let action = CookieAction::Set {
                token: "tok.sig".into(),
                expires_at: now.plus(Duration::from_secs(60)),
                lifetime,
            };
            let value = c.header(&action, now).unwrap();
            assert_eq!(
                value.contains("Max-Age=60"),
                max_age,
                "{persistent} {lifetime:?}: {value}"
            );
            assert!(value.starts_with("id=tok.sig"), "{value}");
            // Measured with room for the widest Max-Age only when it has one.
            assert_eq!(c.max_age_room(&action, now) > 0, max_age);
        }
    }

    #[test]
    fn unusable_names_paths_domains_and_prefixes_are_refused() {
        assert_eq!(CookieConfig::default().validate(), Ok(()));
        let with = |f: &dyn Fn(&mut CookieConfig)| {
            let mut c = CookieConfig::default();
            f(&mut c);
            c.validate()
        };
        for name in ["", "a;b", "a=b", "a b", "sess\u{e9}", "a\nb", "a,b"] {
            assert!(with(&|c| c.name = name.into()).is_err(), "{name:?}");
        }
        for path in ["", "app", "/; Domain=evil.example", "/a\nb"] {
            assert!(with(&|c| c.path = path.into()).is_err(), "{path:?}");
        }
        // Browsers ignore a longer path or domain.
        let long = format!("/{}", "p".repeat(1024));
        assert!(with(&|c| c.path = long.clone()).is_err());
        assert!(with(&|c| c.path = long[..1024].to_owned()).is_ok());
        let host = format!("{}.example", "a".repeat(1017));
        assert!(with(&|c| c.domain = Some(host.clone())).is_err());
        assert!(with(&|c| c.domain = Some(host[1..].to_owned())).is_ok());
        // No room left for a token: refused before any session is written.
        let name = "n".repeat(3960);
        assert!(with(&|c| c.name = name.clone()).is_err());
        assert!(with(&|c| c.name = name[..3700].to_owned()).is_ok());
        for domain in ["", "a.example; Secure", "a b", "a\r"] {
            assert!(
                with(&|c| c.domain = Some(domain.into())).is_err(),
                "{domain:?}"
            );
        }
        assert!(with(&|c| c.domain = Some("app.example.com".into())).is_ok());
        assert!(with(&|c| c.name = "__Host-id".into()).is_ok());
        assert!(with(&|c| c.same_site = SameSite::None).is_ok());
        let none_over_http = with(&|c| {
            c.same_site = SameSite::None;
            c.secure = false;
        });
        assert!(none_over_http.is_err(), "SameSite=None without Secure");
        // Prefixes (matched in any case): name, Secure, path.
        for (name, secure, path) in [
            ("__Host-id", false, "/"),
            ("__Host-id", true, "/app"),
            ("__Secure-id", false, "/"),
            ("__host-id", false, "/"),
        ] {
            let refused = with(&|c| {
                c.name = name.into();
                c.secure = secure;
                c.path = path.into();
            });
            assert!(refused.is_err(), "{name} secure={secure} path={path}");
        }
    }

    #[test]
    fn set_cookie_has_the_default_attributes_and_max_age() {
        let c = CookieConfig::default();
        let now = Timestamp::from_millis(1_000_000);
        let v = c.set_cookie("tok.sig", now.plus(Duration::from_millis(90_500)), now);
        for part in [
            "id=tok.sig",
            "HttpOnly",
            "SameSite=Lax",
            "Secure",
            "Path=/",
            "Max-Age=91",
        ] {
            assert!(v.contains(part), "{v} lacks {part}");
        }
    }

    #[test]
    fn max_age_stops_at_the_400_days_browsers_keep_a_cookie() {
        let c = CookieConfig::default();
        let now = Timestamp::from_millis(1_000_000);
        let day = Duration::from_secs(24 * 3600);
        let v = c.set_cookie("tok.sig", now.plus(400 * day), now);
        assert!(v.ends_with("Max-Age=34560000"), "{v}");
        for far in [401 * day, 2 * 365 * day, Duration::MAX] {
            let v = c.set_cookie("tok.sig", now.plus(far), now);
            assert!(v.contains("Max-Age=34560000"), "{far:?}: {v}");
            let action = CookieAction::Set {
                token: "tok.sig".into(),
                expires_at: now.plus(far),
                lifetime: CookieLifetime::AppDefault,
            };
            // The widest Max-Age is the one measured for room.
            assert_eq!(c.max_age_room(&action, now), 0);
        }
    }

    #[test]
    fn clear_keeps_attributes_with_zero_max_age() {
        let c = CookieConfig {
            secure: false,
            ..CookieConfig::default()
        };
        let v = c.clear_cookie();
        assert!(v.starts_with("id=;"), "{v}");
        for part in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=0"] {
            assert!(v.contains(part), "{v} lacks {part}");
        }
        assert!(!v.contains("Secure"));
    }

    #[test]
    fn tokens_are_found_among_other_cookies_and_headers() {
        let c = CookieConfig::default();
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; id=first; b=2"),
        );
        h.append(header::COOKIE, HeaderValue::from_static("id=\"second\""));
        h.append(
            header::COOKIE,
            HeaderValue::from_static("garbage-without-equals; idx=3"),
        );
        assert_eq!(c.tokens(&h).collect::<Vec<_>>(), ["first", "second"]);
    }

    #[test]
    fn a_non_ascii_cookie_does_not_hide_the_session_cookie() {
        let c = CookieConfig::default();
        let mut h = HeaderMap::new();
        let value = HeaderValue::from_bytes("name=J\u{f6}rg; id=tok; x=\u{e9}".as_bytes()).unwrap();
        assert!(value.to_str().is_err(), "the header is not visible ASCII");
        h.append(header::COOKIE, value);
        assert_eq!(c.tokens(&h).collect::<Vec<_>>(), ["tok"]);
    }

    #[test]
    fn a_session_cookie_that_is_not_utf8_is_still_presented() {
        let c = CookieConfig::default();
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_bytes(b"a=\xff; id=tok\xff; b=\xfe; id=\xff\xfe; id=ok").unwrap(),
        );
        assert_eq!(c.tokens(&h).collect::<Vec<_>>(), ["", "", "ok"]);
    }

    #[test]
    fn names_match_exactly_and_spaces_and_quotes_are_trimmed() {
        let c = CookieConfig::default();
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("xid=no;id2=no; id = \"a\" ;id=;id=b"),
        );
        assert_eq!(c.tokens(&h).collect::<Vec<_>>(), ["a", "", "b"]);
    }

    /// RFC 6265's quoted form is one pair of quotes around the value; any
    /// other quote is part of the value (and makes it malformed).
    #[test]
    fn only_one_pair_of_surrounding_quotes_is_trimmed() {
        let c = CookieConfig::default();
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("id=\"a\"; id=\"\"b\"\"; id=\"c; id=d\"; id=\"; id=\"\""),
        );
        assert_eq!(
            c.tokens(&h).collect::<Vec<_>>(),
            ["a", "\"b\"", "\"c", "d\"", "\"", ""]
        );
    }
}
