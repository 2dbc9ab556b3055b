//! Browser hardening headers on every answer, an app interceptor of the
//! demo's own.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::Response;
use session_axum::prelude::*;

/// Keeps the demo's pages out of other sites' frames, where a disguised
/// click could press its logout or "revoke other sessions" buttons, and
/// keeps browsers from guessing a type for its answers. It runs before the
/// auth interceptor, so the 401s, 403s and 503s of the session layer carry
/// the headers too (not a refused cross-origin write, answered before any
/// interceptor runs); a header a handler set itself stays.
#[interceptor(runs_before = [session_axum::AuthInterceptor])]
#[derive(Debug, Default)]
pub struct SecurityHeaders;

/// The headers and their values.
const HEADERS: [(HeaderName, &str); 4] = [
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::CONTENT_SECURITY_POLICY, "frame-ancestors 'none'"),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::REFERRER_POLICY, "same-origin"),
];

#[async_trait]
impl Interceptor for SecurityHeaders {
    async fn intercept(&self, request: Request, next: Next) -> Response {
        let mut response = next.run(request).await;
        let headers = response.headers_mut();
        for (name, value) in HEADERS {
            headers
                .entry(name)
                .or_insert(HeaderValue::from_static(value));
        }
        response
    }
}
