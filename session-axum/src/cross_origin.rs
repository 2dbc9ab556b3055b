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

use std::time::Duration;

use axum::extract::{OriginalUri, Request};
use axum::response::{IntoResponse, Response};
use http::{HeaderName, HeaderValue, Method, Uri, header};
use hyper::upgrade::OnUpgrade;
use session_core::clock::{Clock as _, SystemClock};
use session_core::summary::LogSummary;
use session_core::token::is_bearer_scheme;

use crate::error::SessionRejection;

/// Where a browser says a request came from, relative to its target.
const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");

/// Why an origin given to
/// [`AppBuilder::trusted_origin`](crate::AppBuilder::trusted_origin), or a
/// path given to
/// [`AppBuilder::cross_origin_exempt`](crate::AppBuilder::cross_origin_exempt),
/// was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OriginError {
    /// Not an origin.
    #[error(
        "trusted origin `{0}`: an origin is a scheme (http or https), a host and an optional port, without a path, such as `https://app.example.com`"
    )]
    Origin(String),
    /// Not a path.
    #[error("cross-origin exempt path `{0}`: a path on this site, starting with `/`")]
    Path(String),
}

/// How often at most refusals are summed up at `info`.
const REPORT_INTERVAL: Duration = Duration::from_secs(60);

/// The check: which requests are refused.
#[derive(Debug)]
pub(crate) struct CrossOriginCheck {
    /// Origins whose writes are taken, in the form browsers send them
    /// (lower case, no trailing `/`, no default port).
    trusted: Box<[Box<str>]>,
    /// Paths whose writes are taken from anywhere.
    exempt: Box<[Box<str>]>,
    /// Whether a `Bearer` token authenticates the request instead of the
    /// cookies (the app takes bearer tokens).
    bearer: bool,
    /// Refusals since the last `info` line: another site can have every
    /// visitor's browser send one, so each alone is only a `debug` line.
    refused: LogSummary,
    /// Refusals that an exemption naming the path inside a nest would have
    /// let through: a misconfiguration to warn of, once a minute at most,
    /// since any client can send a cross-site header.
    misplaced: LogSummary,
}

impl CrossOriginCheck {
    /// The check, trusting `origins` and exempting `paths`; an error names
    /// the first that is no origin or path. `bearer`: whether the app takes
    /// bearer tokens.
    pub(crate) fn new(
        origins: &[String],
        paths: &[String],
        bearer: bool,
    ) -> Result<Self, OriginError> {
        let trusted = origins
            .iter()
            .map(|origin| normalize(origin).ok_or_else(|| OriginError::Origin(origin.clone())))
            .collect::<Result<_, _>>()?;
        let exempt = paths
            .iter()
            .map(|path| {
                if path.starts_with('/') && path.parse::<Uri>().is_ok() {
                    Ok(path.as_str().into())
                } else {
                    Err(OriginError::Path(path.clone()))
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            trusted,
            exempt,
            bearer,
            refused: LogSummary::new(REPORT_INTERVAL),
            misplaced: LogSummary::new(REPORT_INTERVAL),
        })
    }

    /// Whether `request` is a write a browser sent from another origin,
    /// not trusted. Reads (`GET`, `HEAD`, `OPTIONS`) pass: they must not
    /// change anything. A WebSocket handshake is a `GET` but opens a
    /// socket that writes, with the browser's cookies: it is checked as a
    /// write (cross-site WebSocket hijacking). A request with a `Bearer`
    /// token passes where the app takes them: the token, not the cookie,
    /// then says who it is, and a form or link cannot add one (script on
    /// another origin can only once the app's CORS answer allowed it).
    /// Another scheme (`Basic`, which browsers add by themselves) passes
    /// nothing: the cookie still counts there.
    pub(crate) fn refuses(&self, request: &Request) -> bool {
        let method = request.method();
        let headers = request.headers();
        if (method == Method::GET || method == Method::HEAD || method == Method::OPTIONS)
            && !is_websocket_handshake(request)
        {
            return false;
        }
        let bearer = self.bearer
            && headers
                .get(header::AUTHORIZATION)
                .is_some_and(|value| is_bearer_scheme(value.as_bytes()));
        if bearer || self.is_exempt(client_path(request)) {
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

    fn is_exempt(&self, path: &str) -> bool {
        self.exempt.iter().any(|exempt| **exempt == *path)
    }

    fn trusts(&self, origin: Option<&HeaderValue>) -> bool {
        origin.is_some_and(|origin| {
            self.trusted
                .iter()
                .any(|trusted| trusted.as_bytes().eq_ignore_ascii_case(origin.as_bytes()))
        })
    }

    /// The answer to a refused request, logged.
    pub(crate) fn refuse(&self, request: &Request) -> Response {
        let headers = request.headers();
        let path = client_path(request);
        let method = request.method();
        let site = headers.get(SEC_FETCH_SITE);
        let origin = headers.get(header::ORIGIN);
        tracing::debug!(
            %method,
            path,
            sec_fetch_site = ?site,
            origin = ?origin,
            "refused a cross-origin request"
        );
        if let Some(due) = self.refused.record(SystemClock.now()) {
            tracing::info!(
                refused = due.count,
                over_secs = due.over_secs,
                %method,
                path,
                sec_fetch_site = ?site,
                origin = ?origin,
                "cross-origin writes were refused since the last report (each is logged at debug; the fields are the latest's): a front end served from another origin is named with AppBuilder::trusted_origin"
            );
        }
        let nested = request.uri().path();
        if nested != path
            && self.is_exempt(nested)
            && let Some(due) = self.misplaced.record(SystemClock.now())
        {
            tracing::warn!(
                exempt = nested,
                path,
                refused = due.count,
                over_secs = due.over_secs,
                "a cross-origin exemption names the path inside Router::nest; exemptions name the path the client sent, prefix included (reported at most once a minute)"
            );
        }
        SessionRejection::CrossOrigin.into_response()
    }
}

/// The path the client asked for: under `Router::nest` the router's own
/// path has the prefix taken off, and exemptions name what browsers send.
fn client_path(request: &Request) -> &str {
    request
        .extensions()
        .get::<OriginalUri>()
        .map_or_else(|| request.uri().path(), |original| original.path())
}

/// Whether `request` asks to open a WebSocket (`Upgrade: websocket`, the
/// protocol's token compared without regard to case); over HTTP/2 that is
/// a `CONNECT`, which is checked as any write is. Only a request the server
/// can upgrade carries hyper's `OnUpgrade` (axum's `WebSocketUpgrade`
/// needs it): the others, nearly all, skip the header lookup.
fn is_websocket_handshake(request: &Request) -> bool {
    if request.extensions().get::<OnUpgrade>().is_none() {
        return false;
    }
    let headers = request.headers();
    headers.get_all(header::UPGRADE).iter().any(|value| {
        value
            .as_bytes()
            .split(|&b| b == b',')
            .any(|protocol| protocol.trim_ascii().eq_ignore_ascii_case(b"websocket"))
    })
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

/// `origin` as browsers send it in `Origin` (lower case, a scheme's
/// default port left out), or `None` when it is no origin.
fn normalize(origin: &str) -> Option<Box<str>> {
    let uri: Uri = origin.parse().ok()?;
    let scheme = uri.scheme_str()?;
    let authority = uri.authority()?;
    let plain = matches!(scheme, "http" | "https")
        && !authority.as_str().contains('@')
        && !authority.host().is_empty()
        && origin.len() == scheme.len() + 3 + authority.as_str().len();
    if !plain {
        return None;
    }
    let default_port = match scheme {
        "https" => 443,
        _ => 80,
    };
    let host = match authority.port_u16() {
        Some(port) if port == default_port => authority.host(),
        _ => authority.as_str(),
    };
    Some(
        format!("{scheme}://{host}")
            .to_ascii_lowercase()
            .into_boxed_str(),
    )
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

    fn owned(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn check(trusted: &[&str]) -> CrossOriginCheck {
        CrossOriginCheck::new(&owned(trusted), &[], true).unwrap()
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

    /// Browsers add `Basic` (or `Negotiate`) credentials by themselves,
    /// also to another site's form; the cookie still says who it is then.
    /// Without bearer tokens, a `Bearer` header is no token either.
    #[test]
    fn only_a_bearer_token_the_app_takes_passes_a_cross_site_write() {
        let basic = [
            ("sec-fetch-site", "cross-site"),
            ("authorization", "Basic dXNlcjpwYXNz"),
        ];
        assert!(check(&[]).refuses(&request(Method::POST, &basic)));
        let no_bearer = CrossOriginCheck::new(&[], &[], false).unwrap();
        let bearer = [
            ("sec-fetch-site", "cross-site"),
            ("authorization", "Bearer x"),
        ];
        assert!(no_bearer.refuses(&request(Method::POST, &bearer)));
    }

    #[test]
    fn an_exempt_path_takes_writes_from_anywhere_and_only_it() {
        let check = CrossOriginCheck::new(&[], &owned(&["/login"]), true).unwrap();
        let cross = [("sec-fetch-site", "cross-site"), ("origin", "null")];
        assert!(!check.refuses(&request(Method::POST, &cross)));
        let other = http::Request::builder()
            .method(Method::POST)
            .uri("/login/other")
            .header("sec-fetch-site", "cross-site")
            .body(Body::empty())
            .unwrap();
        assert!(check.refuses(&other));
        for bad in ["login", "", "/a b"] {
            let error = CrossOriginCheck::new(&[], &owned(&[bad]), true).unwrap_err();
            assert_eq!(error, OriginError::Path(bad.to_owned()));
        }
    }

    /// Cross-site WebSocket hijacking: the handshake is a `GET`, but the
    /// socket it opens writes with the browser's cookies.
    #[test]
    fn a_websocket_handshake_is_checked_as_a_write() {
        let check = check(&["https://admin.example"]);
        let handshake = |headers: &[(&str, &str)]| {
            let mut all = vec![("upgrade", "websocket"), ("connection", "Upgrade")];
            all.extend_from_slice(headers);
            upgradable(request(Method::GET, &all))
        };
        for site in ["cross-site", "same-site"] {
            let headers = [("sec-fetch-site", site), ("origin", "https://evil.example")];
            assert!(check.refuses(&handshake(&headers)), "{site}");
        }
        let old_browser = [("origin", "https://evil.example")];
        assert!(check.refuses(&handshake(&old_browser)));
        let other_case = upgradable(request(
            Method::GET,
            &[
                ("upgrade", "h2c, WebSocket"),
                ("sec-fetch-site", "cross-site"),
            ],
        ));
        assert!(check.refuses(&other_case));

        let same_origin = [("sec-fetch-site", "same-origin")];
        assert!(!check.refuses(&handshake(&same_origin)));
        let trusted = [
            ("sec-fetch-site", "same-site"),
            ("origin", "https://admin.example"),
        ];
        assert!(!check.refuses(&handshake(&trusted)));
        assert!(!check.refuses(&handshake(&[])), "no browser");
        let other_upgrade = [("upgrade", "h2c"), ("sec-fetch-site", "cross-site")];
        assert!(!check.refuses(&upgradable(request(Method::GET, &other_upgrade))));
        // A request the server cannot upgrade opens no socket.
        let headers = [("upgrade", "websocket"), ("sec-fetch-site", "cross-site")];
        assert!(!check.refuses(&request(Method::GET, &headers)));
    }

    /// `request` as hyper hands over one it can upgrade.
    fn upgradable(mut request: Request) -> Request {
        let upgrade = hyper::upgrade::on(&mut request);
        request.extensions_mut().insert(upgrade);
        request
    }

    /// Under `Router::nest("/api", ..)` the router sees `/login`; the
    /// exemption names the path browsers post to.
    #[test]
    fn an_exempt_path_is_the_one_the_client_sent_under_a_nest() {
        let nested = |exempt: &str| {
            let check = CrossOriginCheck::new(&[], &owned(&[exempt]), true).unwrap();
            let mut request = request(Method::POST, &[("sec-fetch-site", "cross-site")]);
            let original = OriginalUri("/api/login".parse().unwrap());
            request.extensions_mut().insert(original);
            check.refuses(&request)
        };
        assert!(!nested("/api/login"));
        assert!(nested("/login"));
    }

    #[test]
    fn a_trusted_origin_may_write_from_another_site() {
        let check = check(&["https://Admin.Example", "http://other.example:80"]);
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
        // Browsers leave a default port out of `Origin`.
        let default_port = [
            ("sec-fetch-site", "cross-site"),
            ("origin", "http://other.example"),
        ];
        assert!(!check.refuses(&request(Method::POST, &default_port)));
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
            let error = CrossOriginCheck::new(&[bad.to_owned()], &[], true).unwrap_err();
            assert_eq!(error, OriginError::Origin(bad.to_owned()));
        }
        for good in [
            "https://admin.example",
            "http://127.0.0.1:3000",
            "https://[::1]:8443",
        ] {
            assert!(
                CrossOriginCheck::new(&[good.to_owned()], &[], true).is_ok(),
                "{good}"
            );
        }
    }
}
