//! Refusing cross-origin writes from browsers (cross-site request forgery),
//! by what the browser says about where a request came from.
//!
//! `SameSite=Lax` keeps the session cookie off another site's `POST`, but
//! not every forged request needs it: a form on another site can log the
//! browser in to the attacker's account (login CSRF), and sites on sibling
//! subdomains count as the same site. The check follows the Fetch Metadata
//! approach (as Go's `http.CrossOriginProtection`): browsers since 2023 send
//! `Sec-Fetch-Site`, older ones `Origin`, and clients that are not browsers
//! send neither.

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::{HeaderName, HeaderValue, Method, Uri, header};

use crate::error::SessionRejection;

/// Where a browser says a request came from, relative to its target.
const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");

/// Why an origin given to
/// [`AppBuilder::trusted_origin`](crate::AppBuilder::trusted_origin) was
/// refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "trusted origin `{origin}`: an origin is a scheme (http or https), a host and an optional port, without a path, such as `https://app.example.com`"
)]
pub struct OriginError {
    /// The origin given.
    pub origin: String,
}

/// The check: which requests are refused.
#[derive(Debug, Default)]
pub(crate) struct CrossOriginCheck {
    /// Origins whose writes are taken, in the form browsers send them
    /// (lower case, no trailing `/`).
    trusted: Box<[Box<str>]>,
}

impl CrossOriginCheck {
    /// The check, trusting `origins`; an error names the first that is no
    /// origin.
    pub(crate) fn new(origins: &[String]) -> Result<Self, OriginError> {
        let trusted = origins
            .iter()
            .map(|origin| {
                normalize(origin).ok_or_else(|| OriginError {
                    origin: origin.clone(),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { trusted })
    }

    /// Whether `request` is a write a browser sent from another origin,
    /// not trusted. Reads (`GET`, `HEAD`, `OPTIONS`) pass: they must not
    /// change anything. So does a request with an `Authorization` header: a
    /// form or link cannot add one, and script on another origin can only
    /// once the app's CORS answer allowed it.
    pub(crate) fn refuses(&self, request: &Request) -> bool {
        let method = request.method();
        if method == Method::GET || method == Method::HEAD || method == Method::OPTIONS {
            return false;
        }
        let headers = request.headers();
        if headers.contains_key(header::AUTHORIZATION) {
            return false;
        }
        let origin = headers.get(header::ORIGIN);
        match headers.get(SEC_FETCH_SITE).map(HeaderValue::as_bytes) {
            // Typed into the address bar, a bookmark: the user's own doing.
            Some(b"same-origin" | b"none") => false,
            Some(_) => !self.trusts(origin),
            // Not a browser, or a browser from before Fetch Metadata:
            // `Origin` against the host the request was sent to.
            None => match origin {
                None => false,
                Some(origin) => !same_host(origin, request) && !self.trusts(Some(origin)),
            },
        }
    }

    fn trusts(&self, origin: Option<&HeaderValue>) -> bool {
        origin.is_some_and(|origin| {
            self.trusted
                .iter()
                .any(|trusted| trusted.as_bytes().eq_ignore_ascii_case(origin.as_bytes()))
        })
    }

    /// The answer to a refused request, logged.
    pub(crate) fn refuse(request: &Request) -> Response {
        let headers = request.headers();
        tracing::info!(
            method = %request.method(),
            path = request.uri().path(),
            sec_fetch_site = ?headers.get(SEC_FETCH_SITE),
            origin = ?headers.get(header::ORIGIN),
            "refused a cross-origin request (see AppBuilder::trusted_origin)"
        );
        SessionRejection::CrossOrigin.into_response()
    }
}

/// Whether `origin`'s host and port are those the request was sent to.
/// The scheme is not known here (a proxy may end TLS); browsers old enough
/// to send no `Sec-Fetch-Site` are the only ones this decides for.
fn same_host(origin: &HeaderValue, request: &Request) -> bool {
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let Some(origin_host) = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
    else {
        return false;
    };
    let target = request
        .headers()
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()));
    target.is_some_and(|target| target.eq_ignore_ascii_case(origin_host))
}

/// `origin` as browsers send it in `Origin`, or `None` when it is no
/// origin.
fn normalize(origin: &str) -> Option<Box<str>> {
    let uri: Uri = origin.parse().ok()?;
    let scheme = uri.scheme_str()?;
    let authority = uri.authority()?;
    let plain = matches!(scheme, "http" | "https")
        && !authority.as_str().contains('@')
        && !authority.host().is_empty()
        && origin.len() == scheme.len() + 3 + authority.as_str().len();
    plain.then(|| origin.to_ascii_lowercase().into_boxed_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    fn request(method: Method, headers: &[(&str, &str)]) -> Request {
        let mut builder = http::Request::builder()
            .method(method)
            .uri("/login")
            .header(header::HOST, "app.example:8080");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(Body::empty()).unwrap()
    }

    fn check(trusted: &[&str]) -> CrossOriginCheck {
        let trusted: Vec<String> = trusted.iter().map(|s| s.to_string()).collect();
        CrossOriginCheck::new(&trusted).unwrap()
    }

    #[test]
    fn browser_writes_from_another_site_or_origin_are_refused() {
        let check = check(&[]);
        for site in ["cross-site", "same-site", "bogus"] {
            let refused = request(Method::POST, &[("sec-fetch-site", site)]);
            assert!(check.refuses(&refused), "{site}");
        }
        for method in [Method::PUT, Method::PATCH, Method::DELETE] {
            assert!(check.refuses(&request(method, &[("sec-fetch-site", "cross-site")])));
        }
        let old_browser = request(Method::POST, &[("origin", "https://evil.example")]);
        assert!(check.refuses(&old_browser));
        let null_origin = request(Method::POST, &[("origin", "null")]);
        assert!(check.refuses(&null_origin));
    }

    #[test]
    fn same_origin_reads_and_clients_that_are_no_browser_pass() {
        let check = check(&[]);
        for site in ["same-origin", "none"] {
            // Fetch Metadata wins over an `Origin` that would not match.
            let headers = [
                ("sec-fetch-site", site),
                ("origin", "https://other.example"),
            ];
            assert!(!check.refuses(&request(Method::POST, &headers)), "{site}");
        }
        for method in [Method::GET, Method::HEAD, Method::OPTIONS] {
            let headers = [("sec-fetch-site", "cross-site")];
            assert!(!check.refuses(&request(method, &headers)));
        }
        assert!(!check.refuses(&request(Method::POST, &[])), "no browser");
        let same_host = [("origin", "http://APP.example:8080")];
        assert!(!check.refuses(&request(Method::POST, &same_host)));
        let other_port = [("origin", "http://app.example:9090")];
        assert!(check.refuses(&request(Method::POST, &other_port)));
        let scripted = [
            ("sec-fetch-site", "cross-site"),
            ("authorization", "Bearer x"),
        ];
        assert!(!check.refuses(&request(Method::POST, &scripted)));
    }

    #[test]
    fn a_trusted_origin_may_write_from_another_site() {
        let check = check(&["https://Admin.Example"]);
        let trusted = [
            ("sec-fetch-site", "cross-site"),
            ("origin", "https://admin.example"),
        ];
        assert!(!check.refuses(&request(Method::POST, &trusted)));
        assert!(!check.refuses(&request(Method::POST, &trusted[1..])));
        let other = [
            ("sec-fetch-site", "cross-site"),
            ("origin", "https://admin.example:444"),
        ];
        assert!(check.refuses(&request(Method::POST, &other)));
        let no_origin = [("sec-fetch-site", "cross-site")];
        assert!(check.refuses(&request(Method::POST, &no_origin)));
    }

    #[test]
    fn only_origins_are_trusted() {
        for bad in [
            "admin.example",
            "https://admin.example/",
            "https://admin.example/path",
            "https://user@admin.example",
            "ftp://admin.example",
            "https://admin.example?x",
            "",
        ] {
            let error = CrossOriginCheck::new(&[bad.to_owned()]).unwrap_err();
            assert_eq!(error.origin, bad);
        }
        for good in [
            "https://admin.example",
            "http://127.0.0.1:3000",
            "https://[::1]:8443",
        ] {
            assert!(CrossOriginCheck::new(&[good.to_owned()]).is_ok(), "{good}");
        }
    }
}
