//! Error responses: small JSON bodies, never internals.
//!
//! A 401 or 403 carries the `WWW-Authenticate` challenge of RFC 6750 §3 when
//! the app takes bearer tokens ([`BearerStatus`]); the header values are
//! compile-time constants for the default realm, and built once when the app
//! is built for another ([`AppBuilder::realm`](crate::AppBuilder::realm)),
//! attached only on these error paths.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use session_core::summary::LogSummary;
use session_core::{Clock as _, SessionDataError, SessionError, StoreError, SystemClock};

use crate::context::RequestSession;

// The Bearer challenges (RFC 6750 §3) in the default realm: the app is one
// protection space, and a static value costs nothing to send.
const CHALLENGE: &str = r#"Bearer realm="session""#;
const INVALID_TOKEN: &str = r#"Bearer realm="session", error="invalid_token""#;
const INSUFFICIENT_SCOPE: &str = r#"Bearer realm="session", error="insufficient_scope""#;

/// The realm challenges name unless the app names another.
pub(crate) const DEFAULT_REALM: &str = "session";

/// The longest realm an app may name, in bytes.
pub(crate) const MAX_REALM_LEN: usize = 128;

/// Why a realm given to [`AppBuilder::realm`](crate::AppBuilder::realm)
/// cannot be sent: it goes into `realm="..."` as it is, so it must be
/// printable ASCII without the two characters a quoted-string escapes
/// (RFC 9110 §5.6.4), and short.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RealmError {
    /// The realm is empty.
    #[error("the realm is empty")]
    Empty,
    /// The realm is longer than a challenge should carry.
    #[error("the realm is {len} bytes long, at most {max} are allowed")]
    TooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A control character (tab, line break, DEL, ...), which a header
    /// value cannot carry or would let a realm split the header.
    #[error("the realm has a control character at byte {at}")]
    Control {
        /// Its byte offset.
        at: usize,
    },
    /// A `"` or `\`, which a quoted-string carries only escaped.
    #[error("the realm has `{found}` at byte {at}, which a quoted-string carries only escaped")]
    Unescaped {
        /// Its byte offset.
        at: usize,
        /// The character.
        found: char,
    },
    /// A character outside ASCII: header values are ASCII, and clients
    /// disagree on how to read other bytes.
    #[error("the realm has a non-ASCII character at byte {at}")]
    NonAscii {
        /// The byte offset where it starts.
        at: usize,
    },
}

/// Which challenge a rejection's response carries, kept in its extensions
/// so that an app with its own realm can put that realm's value in place
/// of the default one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChallengeKind {
    Challenge,
    InvalidToken,
    InsufficientScope,
}

impl ChallengeKind {
    fn default_value(self) -> HeaderValue {
        match self {
            Self::Challenge => const { HeaderValue::from_static(CHALLENGE) },
            Self::InvalidToken => const { HeaderValue::from_static(INVALID_TOKEN) },
            Self::InsufficientScope => const { HeaderValue::from_static(INSUFFICIENT_SCOPE) },
        }
    }
}

/// Marks the response of a [`SessionRejection::Unauthorized`] to a request
/// that sent no bearer token (whether or not the app takes them, so whether
/// or not it carries a challenge): a request turned away for want of a login.
#[derive(Debug, Clone, Copy)]
struct WantsLogin;

/// Whether `response` is a [`SessionRejection::Unauthorized`] without a
/// bearer token's error: a request turned away for want of a login.
pub(crate) fn wants_login(response: &Response) -> bool {
    response.status() == StatusCode::UNAUTHORIZED
        && response.extensions().get::<WantsLogin>().is_some()
}

/// The challenges of an app's own realm, built once when the app is built.
#[derive(Debug)]
pub(crate) struct Challenges {
    challenge: HeaderValue,
    invalid_token: HeaderValue,
    insufficient_scope: HeaderValue,
}

impl Challenges {
    /// The challenges of `realm`: `None` for the default realm, whose
    /// values are constants; an error when `realm` cannot be sent as it is.
    pub(crate) fn for_realm(realm: &str) -> Result<Option<Arc<Self>>, RealmError> {
        check_realm(realm)?;
        if realm == DEFAULT_REALM {
            return Ok(None);
        }
        let value = |error: &str| {
            let text = match error {
                "" => format!(r#"Bearer realm="{realm}""#),
                _ => format!(r#"Bearer realm="{realm}", error="{error}""#),
            };
            // Checked above; a refusal here could only be a control byte.
            HeaderValue::try_from(text).map_err(|_| RealmError::Control {
                at: realm
                    .bytes()
                    .position(|b| b.is_ascii_control())
                    .unwrap_or(0),
            })
        };
        Ok(Some(Arc::new(Self {
            challenge: value("")?,
            invalid_token: value("invalid_token")?,
            insufficient_scope: value("insufficient_scope")?,
        })))
    }

    /// Puts this realm's challenge in place of the default realm's one a
    /// [`SessionRejection`] answered with, where it stands among the
    /// response's challenges. A value the app set itself, in its place or
    /// beside it (another scheme's challenge), is left alone.
    pub(crate) fn apply(&self, response: &mut Response) {
        let Some(kind) = response.extensions().get::<ChallengeKind>().copied() else {
            return;
        };
        let header::Entry::Occupied(mut values) =
            response.headers_mut().entry(header::WWW_AUTHENTICATE)
        else {
            return;
        };
        let default = kind.default_value();
        let value = match kind {
            ChallengeKind::Challenge => &self.challenge,
            ChallengeKind::InvalidToken => &self.invalid_token,
            ChallengeKind::InsufficientScope => &self.insufficient_scope,
        };
        for current in values.iter_mut().filter(|current| **current == default) {
            *current = value.clone();
        }
    }
}

/// Whether `realm` can go between the quotes of `realm="..."` as it is.
fn check_realm(realm: &str) -> Result<(), RealmError> {
    if realm.is_empty() {
        return Err(RealmError::Empty);
    }
    for (at, byte) in realm.bytes().enumerate() {
        match byte {
            b'"' | b'\\' => {
                return Err(RealmError::Unescaped {
                    at,
                    found: char::from(byte),
                });
            }
            _ if byte.is_ascii_control() => return Err(RealmError::Control { at }),
            _ if !byte.is_ascii() => return Err(RealmError::NonAscii { at }),
            _ => {}
        }
    }
    if realm.len() > MAX_REALM_LEN {
        return Err(RealmError::TooLong {
            len: realm.len(),
            max: MAX_REALM_LEN,
        });
    }
    Ok(())
}

/// Where a refused request stood with bearer tokens, which decides the
/// `WWW-Authenticate` challenge of a 401 or 403 (RFC 9110 §11.6.1,
/// RFC 6750 §3):
///
/// | | 401 [`Unauthorized`](SessionRejection::Unauthorized) | 403 [`Forbidden`](SessionRejection::Forbidden) |
/// |---|---|---|
/// | [`Off`](Self::Off) | none | none |
/// | [`Absent`](Self::Absent) | `Bearer realm="session"` | none |
/// | [`Presented`](Self::Presented) | `Bearer realm="session", error="invalid_token"` | `Bearer realm="session", error="insufficient_scope"` |
///
/// The realm is `session` unless the app names another
/// ([`AppBuilder::realm`](crate::AppBuilder::realm)).
///
/// Cookie sessions have no registered authentication scheme, and browsers
/// expect no challenge for them: an app that takes no bearer tokens sends none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BearerStatus {
    /// The app takes no bearer tokens: turned off
    /// ([`AppBuilder::bearer`](crate::AppBuilder::bearer)), or a client-side
    /// store. No challenge.
    #[default]
    Off,
    /// The app takes bearer tokens; the request sent none (a cookie,
    /// another scheme such as a proxy's `Basic`, or nothing).
    Absent,
    /// The request sent `Authorization: Bearer`: on a 401 its token was
    /// refused (malformed, tampered, expired, revoked or unknown, and no app
    /// [`Authenticator`](crate::Authenticator) took it) or names a session
    /// with no login (anonymous, or its data found invalid); on a 403 it was
    /// accepted, but its principal lacks a permission.
    Presented,
}

/// Why a request was refused by the session layer. Each variant answers with
/// a status and a short JSON body `{"error": "..."}`; a 401 or 403 also with
/// the `WWW-Authenticate` challenge its [`BearerStatus`] calls for. Build
/// them with [`unauthorized`](Self::unauthorized) and
/// [`forbidden`](Self::forbidden), which take it from the request.
///
/// The response also carries the rejection in its extensions, so that a
/// middleware can tell the session layer's refusals (a guard's 401 or 403)
/// from a handler's own and answer them with the app's own page. Keep the
/// response's headers: a cookie it sets or clears, a challenge, a 503's
/// `Retry-After`. A browser that
/// [`login_page`](crate::AppBuilder::login_page) sends to the login page
/// gets a plain 303, without it.
///
/// ```
/// use session_axum::SessionRejection;
/// use session_axum::axum::body::Body;
/// use session_axum::axum::http::{HeaderValue, header};
/// use session_axum::axum::{extract::Request, middleware::Next, response::Response};
///
/// async fn error_pages(request: Request, next: Next) -> Response {
///     let response = next.run(request).await;
///     let Some(SessionRejection::Forbidden { .. }) = response.extensions().get() else {
///         return response;
///     };
///     let (mut parts, _) = response.into_parts();
///     parts.headers.remove(header::CONTENT_LENGTH);
///     let html = HeaderValue::from_static("text/html; charset=utf-8");
///     parts.headers.insert(header::CONTENT_TYPE, html);
///     Response::from_parts(parts, Body::from("<h1>Not for you</h1>"))
/// }
/// // app.into_router().layer(axum::middleware::from_fn(error_pages))
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SessionRejection {
    /// The route needs a principal and there is none.
    #[error("authentication required")]
    Unauthorized {
        /// The request's bearer status: decides the challenge.
        bearer: BearerStatus,
    },
    /// The principal lacks a permission the route needs.
    #[error("permission denied")]
    Forbidden {
        /// The request's bearer status: decides the challenge.
        bearer: BearerStatus,
    },
    /// The session store is down or slow.
    #[error("session store unavailable")]
    StoreUnavailable,
    /// Another request changed the session first (compare-and-set).
    #[error("session changed concurrently")]
    Conflict,
    /// The session is larger than the store accepts.
    #[error("session too large")]
    TooLarge,
    /// The store or the app's settings do not allow this: listing or
    /// revoking with client-side sessions, a bearer login where bearer
    /// tokens are off.
    #[error("not supported by this app's sessions")]
    Unsupported,
    /// A listing's page cursor was not one the store handed out.
    #[error("invalid page cursor")]
    InvalidCursor,
    /// Stored session data is invalid and the app is configured to fail,
    /// or a value given to the session does not encode.
    #[error("session data invalid")]
    InvalidData,
    /// The session layer is not installed on this route (a setup mistake).
    #[error("session layer missing")]
    MissingLayer,
    /// A browser sent a write from another origin, which the app does not
    /// trust ([`AppBuilder::trusted_origin`](crate::AppBuilder::trusted_origin)).
    #[error("cross-origin request refused")]
    CrossOrigin,
    /// Any other session failure.
    #[error("session error")]
    Internal,
}

impl SessionRejection {
    /// The 401 for a request without a principal, challenging as the
    /// request's bearer status calls for.
    pub fn unauthorized(session: &RequestSession) -> Self {
        Self::Unauthorized {
            bearer: session.bearer_status(),
        }
    }

    /// The 403 for a request whose principal lacks a permission: with
    /// `error="insufficient_scope"` when it came with a bearer token.
    pub fn forbidden(session: &RequestSession) -> Self {
        Self::Forbidden {
            bearer: session.bearer_status(),
        }
    }

    /// The `WWW-Authenticate` value the response carries, if any, in the
    /// default realm `session`. In an app built with its own realm
    /// ([`AppBuilder::realm`](crate::AppBuilder::realm)), the response
    /// carries that realm in its place once it leaves the app's
    /// interceptors.
    pub fn challenge(&self) -> Option<HeaderValue> {
        self.challenge_kind().map(ChallengeKind::default_value)
    }

    fn challenge_kind(&self) -> Option<ChallengeKind> {
        match *self {
            Self::Unauthorized {
                bearer: BearerStatus::Absent,
            } => Some(ChallengeKind::Challenge),
            Self::Unauthorized {
                bearer: BearerStatus::Presented,
            } => Some(ChallengeKind::InvalidToken),
            Self::Forbidden {
                bearer: BearerStatus::Presented,
            } => Some(ChallengeKind::InsufficientScope),
            _ => None,
        }
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } | Self::CrossOrigin => StatusCode::FORBIDDEN,
            Self::StoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Conflict => StatusCode::CONFLICT,
            Self::Unsupported => StatusCode::NOT_IMPLEMENTED,
            Self::InvalidCursor => StatusCode::BAD_REQUEST,
            Self::TooLarge | Self::InvalidData | Self::MissingLayer | Self::Internal => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }
}

impl From<&SessionError> for SessionRejection {
    fn from(error: &SessionError) -> Self {
        match error {
            SessionError::Store(StoreError::TooLarge { .. }) => Self::TooLarge,
            SessionError::Store(StoreError::Unsupported { .. }) => Self::Unsupported,
            SessionError::Store(StoreError::InvalidCursor(_)) => Self::InvalidCursor,
            e if e.is_unavailable() => Self::StoreUnavailable,
            SessionError::Conflict { .. } => Self::Conflict,
            SessionError::Data(_) => Self::InvalidData,
            _ => Self::Internal,
        }
    }
}

impl From<SessionError> for SessionRejection {
    fn from(error: SessionError) -> Self {
        let rejection = Self::from(&error);
        log_error(&error, rejection, None);
        rejection
    }
}

/// So `?` works on [`Session::flash`](session_core::Session::flash) and the other
/// calls that encode a value: a value that does not encode is the app's
/// bug, answered as [`InvalidData`](SessionRejection::InvalidData) and
/// logged.
impl From<SessionDataError> for SessionRejection {
    fn from(error: SessionDataError) -> Self {
        Self::from(SessionError::Data(error))
    }
}

/// Logs a session error once, at a level that fits it, with the stored
/// session it concerns when there is one.
pub(crate) fn log_error(
    error: &SessionError,
    rejection: SessionRejection,
    session: Option<session_core::SessionId>,
) {
    let session = session.map(|id| tracing::field::display(id.short()));
    match rejection {
        SessionRejection::StoreUnavailable => {
            tracing::debug!(session, %error, "session store unavailable");
            // Every request of an outage fails: one line a minute counts them.
            static OUTAGE: LogSummary = LogSummary::new(Duration::from_secs(60));
            if let Some(due) = OUTAGE.record(SystemClock.now()) {
                tracing::warn!(
                    failed = due.count,
                    over_secs = due.over_secs,
                    %error,
                    "session store unavailable: requests answered 503 since the last report (each is logged at debug)"
                );
            }
        }
        SessionRejection::Conflict => tracing::info!(session, %error, "session conflict"),
        SessionRejection::Unsupported => {
            tracing::info!(session, %error, "unsupported session operation");
        }
        SessionRejection::InvalidCursor => tracing::info!(session, %error, "invalid page cursor"),
        _ => tracing::error!(session, %error, "session error"),
    }
}

impl IntoResponse for SessionRejection {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.to_string() });
        let mut response = (self.status(), Json(body)).into_response();
        if let Some(kind) = self.challenge_kind() {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, kind.default_value());
            // Marks the value as the framework's, for an app realm to replace.
            response.extensions_mut().insert(kind);
        }
        if let Self::Unauthorized {
            bearer: BearerStatus::Off | BearerStatus::Absent,
        } = self
        {
            response.extensions_mut().insert(WantsLogin);
        }
        if self == Self::StoreUnavailable {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response.extensions_mut().insert(self);
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_the_store_never_handed_out_is_the_clients_mistake() {
        let error = SessionError::Store(StoreError::InvalidCursor("x".into()));
        let rejection = SessionRejection::from(&error);
        assert_eq!(rejection, SessionRejection::InvalidCursor);
        assert_eq!(rejection.status(), StatusCode::BAD_REQUEST);
        let corrupt = SessionError::Store(StoreError::Corrupt("damaged".into()));
        assert_eq!(
            SessionRejection::from(&corrupt).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[test]
    fn a_value_that_does_not_encode_is_answered_by_question_mark() {
        fn flash_in_a_handler() -> Result<(), SessionRejection> {
            Err(SessionDataError::Encode {
                field: "notice".into(),
                message: "key must be a string".into(),
            })?;
            Ok(())
        }
        let rejection = flash_in_a_handler().unwrap_err();
        assert_eq!(rejection, SessionRejection::InvalidData);
        assert_eq!(rejection.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    fn challenge_of(rejection: SessionRejection) -> Option<String> {
        let response = rejection.into_response();
        let mut values = response.headers().get_all(header::WWW_AUTHENTICATE).iter();
        let first = values.next().map(|v| v.to_str().unwrap().to_owned());
        assert!(values.next().is_none());
        assert_eq!(
            first,
            rejection
                .challenge()
                .map(|v| v.to_str().unwrap().to_owned())
        );
        first
    }

    #[test]
    fn refusals_challenge_for_a_bearer_token_only_where_the_app_takes_one() {
        use BearerStatus::{Absent, Off, Presented};
        let unauthorized = |bearer| challenge_of(SessionRejection::Unauthorized { bearer });
        let forbidden = |bearer| challenge_of(SessionRejection::Forbidden { bearer });
        assert_eq!(unauthorized(Off), None);
        assert_eq!(
            unauthorized(Absent).as_deref(),
            Some(r#"Bearer realm="session""#)
        );
        assert_eq!(
            unauthorized(Presented).as_deref(),
            Some(r#"Bearer realm="session", error="invalid_token""#)
        );
        assert_eq!(forbidden(Off), None);
        assert_eq!(forbidden(Absent), None);
        assert_eq!(
            forbidden(Presented).as_deref(),
            Some(r#"Bearer realm="session", error="insufficient_scope""#)
        );
        for other in [
            SessionRejection::StoreUnavailable,
            SessionRejection::Conflict,
            SessionRejection::Unsupported,
            SessionRejection::Internal,
        ] {
            assert_eq!(challenge_of(other), None);
        }
    }

    #[test]
    fn an_app_realm_replaces_only_the_challenge_the_framework_set() {
        let challenges = Challenges::for_realm("api")
            .unwrap()
            .expect("not the default realm");
        let mut response = SessionRejection::Forbidden {
            bearer: BearerStatus::Presented,
        }
        .into_response();
        challenges.apply(&mut response);
        assert_eq!(
            response.headers()[header::WWW_AUTHENTICATE],
            r#"Bearer realm="api", error="insufficient_scope""#
        );
        // A value the app put there itself stays.
        let mut response = SessionRejection::Unauthorized {
            bearer: BearerStatus::Absent,
        }
        .into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"admin\""),
        );
        challenges.apply(&mut response);
        assert_eq!(
            response.headers()[header::WWW_AUTHENTICATE],
            "Basic realm=\"admin\""
        );
        // Nor does one it adds beside the framework's.
        let mut response = SessionRejection::Unauthorized {
            bearer: BearerStatus::Presented,
        }
        .into_response();
        response.headers_mut().append(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"admin\""),
        );
        challenges.apply(&mut response);
        let values: Vec<_> = response
            .headers()
            .get_all(header::WWW_AUTHENTICATE)
            .iter()
            .collect();
        assert_eq!(
            values,
            [
                r#"Bearer realm="api", error="invalid_token""#,
                "Basic realm=\"admin\""
            ]
        );
        assert!(Challenges::for_realm(DEFAULT_REALM).unwrap().is_none());
    }
}
