//! The app's login page: a browser that a route turns away for want of a
//! login goes there ([`AppBuilder::login_page`](crate::AppBuilder::login_page)),
//! and [`local_redirect`] tells a login where it may send the browser back.

use axum::body::Body;
use axum::extract::{OriginalUri, Request};
use axum::response::Response;
use http::{HeaderName, HeaderValue, Method, StatusCode, Uri, header};

use crate::error::{SessionRejection, wants_login};

/// How a browser says it sent a request (Fetch Metadata).
const SEC_FETCH_MODE: HeaderName = HeaderName::from_static("sec-fetch-mode");

/// The longest target [`local_redirect`] takes, in bytes.
pub const MAX_REDIRECT_LEN: usize = 2048;

/// `next` when it is a path on this site that a login may redirect to
/// after it succeeds, else `None`: it starts with one `/` (not `//` nor
/// `/\`, which browsers read as another host) and holds only visible ASCII
/// without `\` (browsers drop tabs and line breaks and read `\` as `/`, so
/// `/\t/evil.example` would lead away), at most [`MAX_REDIRECT_LEN`]
/// bytes. The `next` parameter of a redirect to the login page is the
/// request's own path and query when they pass: else the path alone
/// (a query too long, or holding bytes this refuses), else no `next`.
///
/// A path that passes may still hold `"`, `<`, `>` or `'`: escape it before
/// writing it into HTML (a login form's hidden field), or percent-encode it
/// into the form's query as [`with_next`] does.
///
/// ```
/// use session_axum::local_redirect;
///
/// assert_eq!(local_redirect("/me/sessions?page=2"), Some("/me/sessions?page=2"));
/// assert_eq!(local_redirect("//evil.example/"), None);
/// assert_eq!(local_redirect("https://evil.example/"), None);
/// assert_eq!(local_redirect("/\\evil.example/"), None);
/// ```
pub fn local_redirect(next: &str) -> Option<&str> {
    let bytes = next.as_bytes();
    let local = bytes.first() == Some(&b'/')
        && !matches!(bytes.get(1), Some(b'/'))
        && bytes.len() <= MAX_REDIRECT_LEN
        && bytes.iter().all(|&b| b.is_ascii_graphic() && b != b'\\');
    local.then_some(next)
}

/// `page` with a `next` query parameter naming `target`, percent-encoded,
/// after any query `page` has: the address of a login page that sends the
/// browser back to `target` (as [`AppBuilder::login_page`](crate::AppBuilder::login_page)
/// does, and a login form that failed and shows itself again).
///
/// ```
/// use session_axum::with_next;
///
/// assert_eq!(with_next("/login", "/me?tab=2"), "/login?next=%2Fme%3Ftab%3D2");
/// assert_eq!(with_next("/login?lang=en", "/"), "/login?lang=en&next=%2F");
/// ```
pub fn with_next(page: &str, target: &str) -> String {
    let separator = if page.contains('?') { '&' } else { '?' };
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("next", target)
        .finish();
    format!("{page}{separator}{query}")
}

/// Why a login page path was refused by
/// [`AppBuilder::login_page`](crate::AppBuilder::login_page).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "login page `{path}`: a path on this site is required (starting with one `/`, visible ASCII, no `\\` and no `#`)"
)]
pub struct LoginPageError {
    /// The path given.
    pub path: String,
}

/// Where browsers turned away for want of a login are sent.
#[derive(Debug)]
pub(crate) struct LoginPage {
    path: Box<str>,
}

impl LoginPage {
    /// The login page at `path`, which may carry a query of its own.
    pub(crate) fn new(path: &str) -> Result<Self, LoginPageError> {
        // A fragment would swallow the `next` parameter appended to it.
        match local_redirect(path) {
            Some(path) if !path.contains('#') => Ok(Self { path: path.into() }),
            _ => Err(LoginPageError {
                path: path.to_owned(),
            }),
        }
    }

    /// The login page with `next` set to `target`.
    fn location(&self, target: &str) -> Option<HeaderValue> {
        HeaderValue::try_from(with_next(&self.path, target)).ok()
    }

    /// The login page's path without its query.
    fn page_path(&self) -> &str {
        self.path
            .split_once('?')
            .map_or(&self.path, |(path, _)| path)
    }
}

/// Whether `request` is a browser navigating to a page, which a login page
/// serves better than a 401: a `GET` or `HEAD` sent without credentials of
/// its own (`Authorization`) that asks for HTML. Browsers that say how the
/// request was made (`Sec-Fetch-Mode`) must say `navigate`, so a script's
/// `fetch` asking for HTML still gets the 401 it can act on.
fn is_navigation(request: &Request) -> bool {
    let headers = request.headers();
    if !matches!(*request.method(), Method::GET | Method::HEAD)
        || headers.contains_key(header::AUTHORIZATION)
    {
        return false;
    }
    if let Some(mode) = headers.get(SEC_FETCH_MODE) {
        return mode.as_bytes().eq_ignore_ascii_case(b"navigate");
    }
    headers.get_all(header::ACCEPT).iter().any(|accept| {
        accept
            .as_bytes()
            .windows(b"text/html".len())
            .any(|w| w.eq_ignore_ascii_case(b"text/html"))
    })
}

impl LoginPage {
    /// What a request asked for, kept for [`answer`](Self::answer) when
    /// it is a browser's page load: taken before the request moves on (a
    /// clone of a `Uri` shares its bytes).
    pub(crate) fn asked(&self, request: &Request) -> Option<Uri> {
        is_navigation(request).then(|| match request.extensions().get::<OriginalUri>() {
            Some(OriginalUri(uri)) => uri.clone(),
            None => request.uri().clone(),
        })
    }

    /// A browser's page load (`asked`) the app answered with the session
    /// layer's 401 goes to the login page instead, with `next` naming the
    /// page it asked for. The response keeps its other headers (a cookie
    /// cleared or replaced on the way); a handler's own 401 is left alone,
    /// as is a 401 for the login page itself, which a redirect would only
    /// repeat. Both answers say `Vary: accept, sec-fetch-mode`, the headers
    /// that chose between them.
    pub(crate) fn answer(&self, response: &mut Response, asked: Option<Uri>) {
        if !wants_login(response) {
            return;
        }
        // A 401 or a redirect, as the request asked: a cache must tell them apart.
        response.headers_mut().append(
            header::VARY,
            HeaderValue::from_static("accept, sec-fetch-mode"),
        );
        let Some(asked) = asked else {
            return;
        };
        if asked.path() == self.page_path() {
            return;
        }
        let location = match back_to(&asked) {
            Some(target) => self.location(target),
            None => HeaderValue::try_from(&*self.path).ok(),
        };
        let Some(location) = location else {
            return;
        };
        *response.status_mut() = StatusCode::SEE_OTHER;
        *response.body_mut() = Body::empty();
        // No longer a refusal for an app's error pages to answer.
        response.extensions_mut().remove::<SessionRejection>();
        let headers = response.headers_mut();
        for name in [
            header::WWW_AUTHENTICATE,
            header::CONTENT_TYPE,
            header::CONTENT_LENGTH,
        ] {
            headers.remove(name);
        }
        headers.insert(header::LOCATION, location);
        tracing::debug!(
            path = asked.path(),
            "no login: the browser is sent to the login page"
        );
    }
}

/// Where a login may send the browser back to: the page it asked for,
/// with its query while that passes [`local_redirect`] (too long, or
/// holding bytes it refuses), else without; `None` when neither passes.
fn back_to(asked: &Uri) -> Option<&str> {
    let whole = asked.path_and_query().map_or("/", |p| p.as_str());
    local_redirect(whole).or_else(|| local_redirect(asked.path()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_way_back_drops_a_query_too_long_to_pass() {
        let uri = |s: &str| s.parse::<Uri>().unwrap();
        assert_eq!(back_to(&uri("/me?tab=2")), Some("/me?tab=2"));
        let long_query = format!("/me?x={}", "a".repeat(MAX_REDIRECT_LEN));
        assert_eq!(back_to(&uri(&long_query)), Some("/me"));
        let long_path = format!("/{}", "a".repeat(MAX_REDIRECT_LEN));
        assert_eq!(back_to(&uri(&long_path)), None);
        // What passes is taken back by a login as it is.
        let fits = format!("/me?x={}", "a".repeat(MAX_REDIRECT_LEN - 6));
        assert_eq!(back_to(&uri(&fits)), local_redirect(&fits));
        assert!(local_redirect(&fits).is_some());
    }

    #[test]
    fn only_paths_on_this_site_are_redirect_targets() {
        for good in ["/", "/me", "/me/sessions?page=2&x=%2F", "/a/b#frag", "/@x"] {
            assert_eq!(local_redirect(good), Some(good), "{good}");
        }
        for bad in [
            "",
            "me",
            "//evil.example",
            "/\\evil.example",
            "/x\\y",
            "https://evil.example/",
            "/\t/evil.example",
            "/\n/evil.example",
            "/ x",
            "/caf\u{e9}",
            "javascript:alert(1)",
        ] {
            assert_eq!(local_redirect(bad), None, "{bad:?}");
        }
        let long = format!("/{}", "a".repeat(MAX_REDIRECT_LEN));
        assert_eq!(local_redirect(&long), None);
        assert!(local_redirect(&long[..MAX_REDIRECT_LEN]).is_some());
    }

    #[test]
    fn a_login_page_is_a_local_path_without_a_fragment() {
        assert!(LoginPage::new("/login").is_ok());
        assert!(LoginPage::new("/login?lang=en").is_ok());
        for bad in [
            "login",
            "//login",
            "https://x/login",
            "/login#top",
            "/log in",
        ] {
            let error = LoginPage::new(bad).unwrap_err();
            assert_eq!(error.path, bad);
        }
    }

    #[test]
    fn next_is_encoded_as_one_query_value() {
        let page = LoginPage::new("/login").unwrap();
        assert_eq!(
            page.location("/me/sessions?page=2&x=y").unwrap(),
            "/login?next=%2Fme%2Fsessions%3Fpage%3D2%26x%3Dy"
        );
        let page = LoginPage::new("/login?lang=en").unwrap();
        assert_eq!(page.location("/").unwrap(), "/login?lang=en&next=%2F");
        assert_eq!(page.page_path(), "/login");
    }

    fn request(method: Method, headers: &[(&str, &str)]) -> Request {
        let mut builder = Request::builder().method(method).uri("/x");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(Body::empty()).unwrap()
    }

    #[test]
    fn only_a_browser_navigation_is_sent_to_the_login_page() {
        let html = ("accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8");
        assert!(is_navigation(&request(Method::GET, &[html])));
        assert!(is_navigation(&request(Method::HEAD, &[html])));
        assert!(is_navigation(&request(
            Method::GET,
            &[html, ("sec-fetch-mode", "navigate")]
        )));
        assert!(is_navigation(&request(
            Method::GET,
            &[("accept", "TEXT/HTML")]
        )));
        // A script's fetch, an API client, a form post, a bearer client.
        assert!(!is_navigation(&request(
            Method::GET,
            &[html, ("sec-fetch-mode", "cors")]
        )));
        assert!(!is_navigation(&request(Method::GET, &[])));
        assert!(!is_navigation(&request(
            Method::GET,
            &[("accept", "application/json")]
        )));
        assert!(!is_navigation(&request(Method::POST, &[html])));
        assert!(!is_navigation(&request(
            Method::GET,
            &[html, ("authorization", "Basic eDp5")]
        )));
    }
}
