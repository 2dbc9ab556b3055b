//! `Authorization: Bearer <token>` helpers.

/// The token in an `Authorization` header value of the `Bearer` scheme
/// (scheme matched case-insensitively); `None` for another scheme or an empty token.
pub fn bearer_token(header: &str) -> Option<&str> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = rest.trim();
    (!token.is_empty() && !token.contains(' ')).then_some(token)
}

/// Whether an `Authorization` header value uses the `Bearer` scheme, its
/// token usable or not. Other schemes (`Basic` from a proxy in front of a
/// staging site, say) are not bearer attempts.
pub fn is_bearer_scheme(header: &[u8]) -> bool {
    let header = header.trim_ascii_start();
    let scheme = header.split(|b| *b == b' ').next().unwrap_or_default();
    scheme.eq_ignore_ascii_case(b"bearer")
}

/// The `Authorization` header value carrying `token`.
pub fn bearer_header(token: &str) -> String {
    format!("Bearer {token}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_bearer_scheme_only() {
        assert_eq!(bearer_token("Bearer abc.def"), Some("abc.def"));
        assert_eq!(bearer_token("bearer   abc "), Some("abc"));
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("Bearer  "), None);
        assert_eq!(bearer_token("Bearer a b"), None);
        assert_eq!(bearer_token("Token abc"), None);
        assert_eq!(bearer_header("t"), "Bearer t");
    }

    #[test]
    fn tells_the_bearer_scheme_from_others() {
        for bearer in ["Bearer abc", "bearer", " BEARER  x y", "Bearer \u{e9}"] {
            assert!(is_bearer_scheme(bearer.as_bytes()), "{bearer:?}");
        }
        for other in ["Basic Zm9vOmJhcg==", "Bearerx abc", "Token abc", "", "   "] {
            assert!(!is_bearer_scheme(other.as_bytes()), "{other:?}");
        }
        assert!(is_bearer_scheme(b"Bearer \xff"));
    }
}
