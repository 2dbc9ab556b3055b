//! What a web layer does around a [`SessionService`](crate::SessionService),
//! and the pieces of it that do not depend on a framework.
//!
//! `session-axum` is one such layer; another (plain hyper, actix-web) takes
//! these steps for each request:
//!
//! 1. **Tokens.** A request with `Authorization: Bearer` is a bearer
//!    request: its token alone is tried ([`bearer_token`](crate::token::bearer_token); a
//!    malformed one still counts, as `""`, and no cookie is read then), and
//!    [`SessionState::keep_token`](crate::SessionState::keep_token) is
//!    called on the loaded cell. Otherwise every value of the session
//!    cookie, in order ([`cookie_values`]), goes to
//!    [`SessionService::load_first`](crate::SessionService::load_first).
//!    A store outage while loading is a 503 with `Retry-After`. With a
//!    client-side store, the values of the ended-sessions cookie (the
//!    session cookie's name plus
//!    [`ENDED_COOKIE_SUFFIX`](crate::store::cookie::ENDED_COOKIE_SUFFIX))
//!    go to [`SessionService::check_ended`](crate::SessionService::check_ended)
//!    right after the load, before anything else reads or marks the cell.
//! 2. **The handler** takes typed data through
//!    [`SessionService::typed`](crate::SessionService::typed), which applies
//!    the service's [`InvalidDataPolicy`](crate::InvalidDataPolicy)
//!    ([`Session::from_cell`](crate::Session::from_cell) does not), and
//!    commits a handle before moving it past the handler. A logout takes
//!    [`SessionState::stored_id`](crate::SessionState::stored_id), calls
//!    [`SessionState::destroy`](crate::SessionState::destroy) and deletes
//!    the record at once with
//!    [`SessionService::destroy_session`](crate::SessionService::destroy_session):
//!    a response that later fails with a 5xx is not persisted, and the
//!    logout must stand all the same (with a server-side store: a
//!    client-side store's logout is its cleared cookie, which a 5xx does
//!    not send).
//! 3. **After the handler**, a response of 500 or more persists nothing.
//!    [`SessionState::try_settle`](crate::SessionState::try_settle) ends a
//!    read-only request without a store call. A bearer request whose cell
//!    [`starts_anonymous_session`](crate::SessionState::starts_anonymous_session)
//!    is [`discard`](crate::SessionState::discard)ed and answered 401 (its
//!    token could never reach the client). Then
//!    [`SessionService::persist`](crate::SessionService::persist).
//! 4. **The cookie**, from [`Persisted::cookie`](crate::Persisted::cookie),
//!    on responses to cookie requests only: `Set` is a `Set-Cookie` with
//!    `HttpOnly`, `SameSite=Lax`, `Path=/` and `Secure` outside plain-HTTP
//!    development, and a `Max-Age` of [`max_age_secs`] when the
//!    [`CookieLifetime`](crate::CookieLifetime) is persistent; `Clear` is
//!    the same cookie with `Max-Age=0` and no value; `Keep` sends nothing.
//!    A `Set-Cookie` over
//!    [`MAX_COOKIE_BYTES`](crate::store::cookie::MAX_COOKIE_BYTES) (the
//!    cookie store's sessions) fails the response with 500, unless the
//!    outcome changed no data (`Refreshed`, `Seen`, `Unchanged`): the
//!    client's cookie still holds it all; after a logout
//!    (`Destroyed`) the cookie is cleared instead, and the logout stands.
//!    A response that sets or clears the cookie, or that read the session
//!    (its page depends on who asks), is `Cache-Control: private` (unless
//!    the handler chose otherwise) with `Vary: Cookie`: a shared cache must
//!    not hand one user's page to another. A `Set` in
//!    [`Persisted::ended`](crate::Persisted::ended) goes out as one more
//!    `Set-Cookie` under the ended-sessions cookie's name, with the same
//!    attributes (it is small: a failure to fit is only logged).
//! 5. **A bearer login from a browser**
//!    ([`SessionState::login_apart`](crate::SessionState::login_apart)):
//!    the new session's token goes to the client in the body, and the
//!    browser's cookie session stays as it was. `Persisted::cookie` names
//!    the new session then: do not send it. Send no cookie, with two
//!    exceptions: clear a cookie whose token was refused
//!    ([`TokenStatus::Rejected`](crate::TokenStatus::Rejected)), and after
//!    a logout in the same request apply `Persisted::cookie` as usual (it
//!    clears the cookie, or sets the session a write after the logout
//!    started). The response carrying the token is `Cache-Control:
//!    private` too.
//! 6. **Errors** as statuses: a store outage 503, a session over its size
//!    limit 500, an operation the store does not support 501, a
//!    compare-and-set conflict 409, a bad page cursor 400; none with the
//!    error's text, which may name internals.

use crate::Timestamp;

/// The longest `Max-Age` browsers keep (400 days, RFC 6265bis): a longer
/// one is cut to it.
pub const MAX_AGE_SECS: u64 = 400 * 24 * 3600;

/// The digits of [`MAX_AGE_SECS`]: the widest `Max-Age` a cookie is
/// measured with, so that a session accepted once still fits when a
/// refresh lengthens its `Max-Age`.
pub const MAX_AGE_DIGITS: usize = 8;
const _: () = assert!(MAX_AGE_SECS.ilog10() as usize + 1 == MAX_AGE_DIGITS);

/// The `Max-Age` of a cookie for a session expiring at `expires_at`: the
/// seconds from `now`, rounded up (the browser must not drop the cookie
/// before the session expires), at most [`MAX_AGE_SECS`].
///
/// ```
/// use session_core::{Timestamp, web::max_age_secs};
///
/// let now = Timestamp::from_millis(1_000);
/// assert_eq!(max_age_secs(Timestamp::from_millis(2_001), now), 2);
/// assert_eq!(max_age_secs(now, Timestamp::from_millis(9_000)), 0);
/// ```
pub fn max_age_secs(expires_at: Timestamp, now: Timestamp) -> u64 {
    let secs = expires_at.since(now).as_millis().div_ceil(1000);
    u64::try_from(secs).map_or(MAX_AGE_SECS, |secs| secs.min(MAX_AGE_SECS))
}

/// Every value of cookie `name` in a request's `Cookie` header values, in
/// order, read on bytes: another cookie that is not UTF-8 does not hide
/// this one. A value in double quotes is taken without them. A value of
/// `name` that is not UTF-8 is yielded as `""`, which no token verifies, so
/// that a request with a damaged cookie does not pass for one without
/// (whose cookie would be left in place).
///
/// ```
/// use session_core::web::cookie_values;
///
/// let headers: [&[u8]; 2] = [b"theme=dark; id=abc", b"x=\xff; id=\"def\""];
/// let values: Vec<&str> = cookie_values(headers, "id").collect();
/// assert_eq!(values, ["abc", "def"]);
/// ```
pub fn cookie_values<'h, 'n>(
    headers: impl IntoIterator<Item = &'h [u8]>,
    name: &'n str,
) -> impl Iterator<Item = &'h str> {
    headers
        .into_iter()
        .flat_map(|value| value.split(|&b| b == b';'))
        .filter_map(move |pair| {
            let pair = pair.trim_ascii_start();
            let value = pair.strip_prefix(name.as_bytes())?.trim_ascii_start();
            let token = trim_quotes(value.strip_prefix(b"=")?.trim_ascii());
            Some(std::str::from_utf8(token).unwrap_or(""))
        })
}

/// `token` without the pair of double quotes around it (RFC 6265 allows
/// them); a quote anywhere else stays, and the token fails to verify.
fn trim_quotes(token: &[u8]) -> &[u8] {
    match token {
        [b'"', inner @ .., b'"'] => inner,
        _ => token,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_named_cookie_is_read_and_a_damaged_value_still_counts() {
        let headers: [&[u8]; 1] = [b"idx=1; xid=2; id = 3 ;id=\xff; id=\"4"];
        let values: Vec<&str> = cookie_values(headers, "id").collect();
        assert_eq!(values, ["3", "", "\"4"]);
        assert_eq!(cookie_values([b"".as_slice()], "id").count(), 0);
    }

    #[test]
    fn max_age_rounds_up_and_stops_at_400_days() {
        let now = Timestamp::from_millis(0);
        assert_eq!(max_age_secs(Timestamp::from_millis(1), now), 1);
        assert_eq!(max_age_secs(Timestamp::from_millis(1_000), now), 1);
        let far = Timestamp::from_millis(u64::MAX);
        assert_eq!(max_age_secs(far, now), MAX_AGE_SECS);
    }
}
