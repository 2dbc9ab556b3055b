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
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    let authority = rest.split('/').next().unwrap_or(rest);
    match authority.rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => format!("{scheme}://{rest}"),
    }
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
        ] {
            assert_eq!(display_url(url), shown, "{url}");
        }
    }
}
