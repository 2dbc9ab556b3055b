//! Redis URLs as they may appear in logs and messages.

/// `url` for logs and messages: its user information (a password) masked
/// and its query dropped, so `redis://app:secret@host:6379/0?x=1` shows as
/// `redis://***@host:6379/0`.
///
/// ```
/// assert_eq!(
///     session_redis::display_url("redis://app:secret@host:6379/0"),
///     "redis://***@host:6379/0"
/// );
/// ```
pub fn display_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "(not a URL)".to_owned();
    };
    // The user information ends at the last `@`: a password may hold a
    // `/`, `?` or `#` written unescaped (a base64 one), which ends the
    // authority early for a URL parser, and such a URL, which does not
    // parse, is the one an error message shows.
    let (masked, rest) = match rest.rfind('@') {
        // A `?` or `#` before it may start the query instead, whose
        // password (`?password=`, for a unix socket) may hold the `@`: what
        // follows it could be the password's end, so nothing is shown.
        Some(at) if rest[..at].contains(['?', '#']) => return format!("{scheme}://***"),
        Some(at) => ("***@", &rest[at + 1..]),
        None => ("", rest),
    };
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    format!("{scheme}://{masked}{rest}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_and_queries_stay_out() {
        for (url, shown) in [
            ("redis://127.0.0.1:6379", "redis://127.0.0.1:6379"),
            ("redis://:pw@host:6379/0", "redis://***@host:6379/0"),
            ("rediss://user:p@ss@host/1", "rediss://***@host/1"),
            ("redis://host/0?password=secret#x", "redis://host/0"),
            ("redis://u:pw@host?db=1", "redis://***@host"),
            (
                "redis+unix:///run/redis.sock",
                "redis+unix:///run/redis.sock",
            ),
            ("not a url", "(not a URL)"),
            // A password with a character a URL escapes, written unescaped
            // (a base64 one): the URL no longer parses, and the error names it.
            ("redis://:pa/ss@host:6379/0", "redis://***@host:6379/0"),
            // A `?` or `#` before the last `@`: a password in the user
            // information or in the query, which cannot be told apart.
            ("redis://user:pa?ss@host", "redis://***"),
            ("redis://user:pa#ss@host/2", "redis://***"),
            ("rediss://:a/b?c#d@host:6380", "rediss://***"),
            (
                "redis+unix:///run/redis.sock?db=0&pass=hunter@2secret",
                "redis+unix://***",
            ),
            ("unix:///run/redis.sock?password=p@ssw0rdtail", "unix://***"),
            ("redis://host:6379/0?password=abc@defsecret", "redis://***"),
        ] {
            assert_eq!(display_url(url), shown, "{url}");
        }
    }
}
