//! Request headers from outside under generated cases: the `Cookie` scan
//! and `Authorization: Bearer` parsing find exactly the tokens sent, and any
//! header bytes at all mean no principal and a fresh session over real HTTP,
//! never a panic or a 5xx.

use http::{HeaderMap, HeaderValue, header};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use session_axum::CookieConfig;
use session_core::token::{bearer_header, bearer_token, is_bearer_scheme};
use session_core::{Key, SessionId, SigningKeys, Timestamp, TokenSigner};

use crate::app::{TestApp, start};

/// Bytes a header value may hold: visible ASCII, space, tab and obs-text.
fn header_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        4 => 0x20u8..=0x7e,
        1 => Just(b'\t'),
        1 => 0x80u8..=0xff,
        2 => prop::sample::select(b";=\" sid,".to_vec()),
    ]
}

fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(header_byte(), 0..120)
}

/// A token as the signer writes them.
fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_.-]{1,40}"
}

/// One `name=value` pair of a `Cookie` header and the token it carries for
/// the cookie `sid`, if any: the session cookie (spaces and quotes around
/// its value, one pair of them trimmed), or another cookie with any value.
fn pair() -> impl Strategy<Value = (Vec<u8>, Option<String>)> {
    let spaces = || prop::sample::select(vec!["", " ", "  ", "\t"]);
    let quote = || prop::sample::select(vec!["", "\"", "\"\""]);
    let session = (
        spaces(),
        spaces(),
        spaces(),
        quote(),
        token(),
        quote(),
        spaces(),
    )
        .prop_map(|(lead, before_eq, after_eq, open, token, close, trail)| {
            let text = format!("{lead}sid{before_eq}={after_eq}{open}{token}{close}{trail}");
            // One pair of quotes around the value is RFC 6265's quoted
            // form; any other quote is part of the value.
            let value = format!("{open}{token}{close}");
            let value = match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                Some(inner) => inner.to_owned(),
                None => value,
            };
            (text.into_bytes(), Some(value))
        });
    let other_name = prop::sample::select(vec!["SID", "xsid", "sidx", "s id", "", "a", "sid2"]);
    let value = prop::collection::vec(header_byte().prop_filter("one pair", |b| *b != b';'), 0..30);
    let other = (spaces(), other_name, any::<bool>(), value).prop_map(|(lead, name, eq, value)| {
        // Without a name, the `=` keeps the value from being read as one.
        let eq: &[u8] = if eq || name.is_empty() { b"=" } else { b"" };
        (
            [lead.as_bytes(), name.as_bytes(), eq, &value].concat(),
            None,
        )
    });
    prop_oneof![session, other]
}

fn headers_of(values: &[Vec<u8>]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for value in values {
        headers.append(header::COOKIE, HeaderValue::from_bytes(value).unwrap());
    }
    headers
}

fn config() -> CookieConfig {
    CookieConfig {
        name: "sid".into(),
        ..CookieConfig::default()
    }
}

fn signer() -> TokenSigner {
    TokenSigner::new(SigningKeys::single(crate::app::key(1)), "sid")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_cookie_scan_finds_every_session_cookie_in_order_and_nothing_else(
        headers in prop::collection::vec(
            (prop::collection::vec(pair(), 0..6), prop::sample::select(vec![";", "; ", " ;", ";;"])),
            0..3,
        ),
    ) {
        let mut values = Vec::new();
        let mut expected = Vec::new();
        for (pairs, separator) in headers {
            let mut value = Vec::new();
            for (i, (bytes, token)) in pairs.into_iter().enumerate() {
                if i > 0 {
                    value.extend_from_slice(separator.as_bytes());
                }
                value.extend_from_slice(&bytes);
                expected.extend(token);
            }
            values.push(value);
        }
        let headers = headers_of(&values);
        let found: Vec<&str> = config().tokens(&headers).collect();
        prop_assert_eq!(found, expected);
    }

    #[test]
    fn any_cookie_header_gives_trimmed_tokens_without_a_panic(
        values in prop::collection::vec(header_bytes(), 0..3),
    ) {
        let headers = headers_of(&values);
        let named = values
            .iter()
            .map(|v| v.windows(3).filter(|w| *w == b"sid").count())
            .sum::<usize>();
        let found: Vec<&str> = config().tokens(&headers).collect();
        prop_assert!(found.len() <= named);
        for token in found {
            prop_assert!(!token.contains(';'), "{token:?}");
            prop_assert!(!token.starts_with('"') && !token.ends_with('"'), "{token:?}");
        }
    }

    #[test]
    fn a_set_cookie_sent_back_gives_its_token(name in "[A-Za-z0-9_-]{1,12}", raw in any::<[u8; 16]>()) {
        let c = CookieConfig { name, ..CookieConfig::default() };
        prop_assert_eq!(c.validate(), Ok(()));
        let token = TokenSigner::new(SigningKeys::single(Key::new([3; 32]).unwrap()), c.name.as_str())
            .sign_id(&SessionId::from_bytes(raw));
        let now = Timestamp::from_millis(1_000_000);
        let set = c.set_cookie(&token, now, now);
        // A browser sends back the cookie's `name=value`, without attributes;
        // the cookies around it have names the generated one cannot take.
        let sent = set.split(';').next().unwrap().to_owned();
        let headers = headers_of(&[format!("o.ther=1; {sent}; x.y=y").into_bytes()]);
        prop_assert_eq!(c.tokens(&headers).collect::<Vec<_>>(), vec![token.as_str()]);
    }

    #[test]
    fn a_bearer_token_is_found_only_under_the_bearer_scheme(
        value in prop::collection::vec(
            prop_oneof![0x20u8..=0x7e, Just(b'\t'), prop::sample::select(b"Bearer bearer ".to_vec())],
            0..60,
        ),
        prefix in prop::sample::select(vec!["", "Bearer ", "bEaReR", " bearer  ", "Basic "]),
    ) {
        let value = [prefix.as_bytes(), &value].concat();
        let text = String::from_utf8(value.clone()).unwrap();
        if let Some(token) = bearer_token(&text) {
            prop_assert!(is_bearer_scheme(&value), "{text:?}");
            prop_assert!(!token.is_empty() && !token.contains(' '), "{token:?}");
            prop_assert_eq!(token.trim(), token);
            let written = bearer_header(token);
            prop_assert_eq!(bearer_token(&written), Some(token));
        }
        if !is_bearer_scheme(&value) {
            prop_assert_eq!(bearer_token(&text), None);
        }
    }

    #[test]
    fn bearer_headers_round_trip(token in token(), scheme in "[bB][eE][aA][rR][eE][rR]", spaces in " {1,3}") {
        let header = bearer_header(&token);
        prop_assert_eq!(bearer_token(&header), Some(token.as_str()));
        let written = format!("{scheme}{spaces}{token}{spaces}");
        prop_assert!(is_bearer_scheme(written.as_bytes()));
        prop_assert_eq!(bearer_token(&written), Some(token.as_str()));
    }
}

/// Runs `cases` generated cases against one app over real HTTP.
fn over_http<S: Strategy>(
    cases: u32,
    strategy: S,
    test: impl Fn(&tokio::runtime::Runtime, &TestApp, S::Value) -> Result<(), TestCaseError>,
) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let app = rt.block_on(start());
    let mut runner = TestRunner::new(ProptestConfig::with_cases(cases));
    if let Err(failure) = runner.run(&strategy, |value| test(&rt, &app, value)) {
        panic!("{failure}");
    }
}

/// Sends `GET path` with `headers`; the status and the body.
async fn get(app: &TestApp, path: &str, headers: &[(&str, &[u8])]) -> (u16, String) {
    let mut request = session_tests::http::client().get(app.server.url(path));
    for (name, value) in headers {
        request = request.header(
            *name,
            reqwest::header::HeaderValue::from_bytes(value).unwrap(),
        );
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// Cookie header values of garbage: any bytes, or session cookies whose
/// value was never signed.
fn garbage_cookies() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        header_bytes(),
        prop::collection::vec(pair(), 1..5).prop_map(|pairs| {
            pairs
                .into_iter()
                .map(|(bytes, _)| bytes)
                .collect::<Vec<_>>()
                .join(&b';')
        }),
    ]
    .prop_filter("a header value", |v| HeaderValue::from_bytes(v).is_ok())
}

#[test]
fn any_cookie_header_means_no_principal_and_a_fresh_session() {
    over_http(256, garbage_cookies(), |rt, app, cookie| {
        let headers = [("cookie", cookie.as_slice())];
        let (status, body) = rt.block_on(get(app, "/t/me", &headers));
        prop_assert_eq!(status, 401, "{}", body);
        let (status, body) = rt.block_on(get(app, "/t/visit", &headers));
        prop_assert_eq!((status, body.as_str()), (200, "1"));
        Ok(())
    });
}

#[test]
fn garbage_around_the_session_cookie_does_not_hide_it() {
    let strategy = (
        prop::collection::vec(pair(), 0..4),
        prop::collection::vec(pair(), 0..4),
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let app = rt.block_on(start());
    let good = rt.block_on(async {
        let mut b = app.server.browser();
        b.post("/t/login?user=ada").await;
        b.jar["sid"].clone()
    });
    let mut runner = TestRunner::new(ProptestConfig::with_cases(256));
    let result = runner.run(&strategy, |(before, after)| {
        let mut pairs: Vec<Vec<u8>> = before.into_iter().map(|(bytes, _)| bytes).collect();
        pairs.push(format!("sid={good}").into_bytes());
        pairs.extend(after.into_iter().map(|(bytes, _)| bytes));
        let cookie = pairs.join(&b';');
        let (status, body) = rt.block_on(get(&app, "/t/me", &[("cookie", &cookie)]));
        prop_assert_eq!(status, 200, "{}", body);
        prop_assert!(body.contains("\"ada\""), "{}", body);
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

#[test]
fn any_authorization_header_means_no_principal_never_an_error() {
    let value = (
        prop::sample::select(vec![
            "", "Bearer ", "bearer", "Bearer  ", "Basic ", "BEARER\t",
        ]),
        prop_oneof![
            header_bytes(),
            (any::<[u8; 16]>(), any::<usize>(), "[A-Za-z0-9 _.\"-]").prop_map(|(raw, at, with)| {
                // A real token with one character replaced.
                let mut token = signer().sign_id(&SessionId::from_bytes(raw)).into_bytes();
                let at = at % token.len();
                if token[at] == with.as_bytes()[0] {
                    token.push(b'x');
                } else {
                    token[at] = with.as_bytes()[0];
                }
                token
            }),
        ],
    )
        .prop_map(|(scheme, rest)| [scheme.as_bytes(), &rest].concat())
        .prop_filter("a header value", |v| HeaderValue::from_bytes(v).is_ok());
    over_http(256, value, |rt, app, authorization| {
        let headers = [("authorization", authorization.as_slice())];
        let (status, body) = rt.block_on(get(app, "/t/me", &headers));
        prop_assert_eq!(status, 401, "{}", body);
        let (status, _) = rt.block_on(get(app, "/t/visit", &headers));
        prop_assert!(status < 500, "{}", status);
        Ok(())
    });
}
