//! Keeping responses that carry a session token out of shared caches.

use http::HeaderValue;
use http::header::{CACHE_CONTROL, HeaderMap, HeaderName, VARY};

/// `CDN-Cache-Control` (RFC 9213): a CDN that reads it ignores `Cache-Control`.
const CDN_CACHE_CONTROL: HeaderName = HeaderName::from_static("cdn-cache-control");
/// `Surrogate-Control`: the same for older CDNs, with directives of its own.
const SURROGATE_CONTROL: HeaderName = HeaderName::from_static("surrogate-control");

/// Marks a response that read the session: `Cache-Control: private` when
/// it says nothing of caching (a shared cache storing it would show one
/// visitor's page to the next; the app's own directives stand), and
/// `Vary: Cookie`.
pub(crate) fn depends_on_session(headers: &mut HeaderMap) {
    headers
        .entry(CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("private"));
    vary_by_cookie(headers);
}

/// `Vary: Cookie` on a response that depends on the session, as Django's
/// session middleware sends: a cache allowed to keep it (the browser's own,
/// or a shared one the app's `public` let in) must not serve it to a
/// request with another cookie, the next user of the same browser, say.
/// A `Vary` that already names `Cookie`, or is `*`, stays as it is.
pub(crate) fn vary_by_cookie(headers: &mut HeaderMap) {
    let named = headers.get_all(VARY).iter().any(|value| {
        value.as_bytes().split(|b| *b == b',').any(|name| {
            let name = name.trim_ascii();
            name == b"*" || name.eq_ignore_ascii_case(b"cookie")
        })
    });
    if !named {
        headers.append(VARY, HeaderValue::from_static("Cookie"));
    }
}

/// Makes a response that sets or clears the session cookie, or hands out a
/// bearer token, `private`: a shared cache (CDN, proxy) storing it would
/// hand one visitor's session to the next. The handler's other directives stay; `public` and `s-maxage`,
/// which ask shared caches to store it, go. A response already `private` or
/// `no-store` is left as it is. A CDN's own `CDN-Cache-Control` is made
/// `private` the same way, and a `Surrogate-Control` `no-store` (its
/// `max-age` dropped, its other directives, such as `content="ESI/1.0"`,
/// kept).
pub(crate) fn keep_private(headers: &mut HeaderMap) {
    // One pass over the few names a response has, rather than a hashed
    // lookup for each of three headers that are seldom there.
    let (mut cache, mut cdn, mut surrogate) = (false, false, false);
    for name in headers.keys() {
        cache |= *name == CACHE_CONTROL;
        cdn |= *name == CDN_CACHE_CONTROL;
        surrogate |= *name == SURROGATE_CONTROL;
    }
    if cache {
        make_private(headers, CACHE_CONTROL);
    } else {
        // The common case, without allocating: pieces freed here on every
        // new session would sit between a memory store's entries.
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("private"));
    }
    if cdn {
        make_private(headers, CDN_CACHE_CONTROL);
    }
    if surrogate {
        keep_from_surrogate(headers);
    }
}

/// `Surrogate-Control` has no `private`: `no-store` keeps the response out
/// of the surrogate's cache.
fn keep_from_surrogate(headers: &mut HeaderMap) {
    let Some(mut directives) = directives_of(headers, &SURROGATE_CONTROL) else {
        headers.insert(SURROGATE_CONTROL, HeaderValue::from_static("no-store"));
        return;
    };
    if directives.iter().any(|d| directive(d) == "no-store") {
        return;
    }
    directives.retain(|d| directive(d) != "max-age");
    directives.push("no-store".to_owned());
    let value = HeaderValue::try_from(directives.join(", "))
        .unwrap_or(HeaderValue::from_static("no-store"));
    headers.insert(SURROGATE_CONTROL, value);
}

/// Makes the directives of header `name` (present) private.
fn make_private(headers: &mut HeaderMap, name: HeaderName) {
    let Some(mut directives) = directives_of(headers, &name) else {
        // Nothing of it can be kept safely but a `no-store` it spells out.
        let value = if mentions_no_store(headers, &name) {
            "private, no-store"
        } else {
            "private"
        };
        headers.insert(name, HeaderValue::from_static(value));
        return;
    };
    if directives
        .iter()
        .any(|d| d.eq_ignore_ascii_case("private") || directive(d) == "no-store")
    {
        return;
    }
    directives.retain(|d| !matches!(directive(d).as_str(), "public" | "s-maxage"));
    directives.push("private".to_owned());
    let value =
        HeaderValue::try_from(directives.join(", ")).unwrap_or(HeaderValue::from_static("private"));
    headers.insert(name, value);
}

/// The directives of every `name` line; `None` when one is not text or
/// leaves a quoted string open (a directive appended after it would be
/// read as part of the string).
fn directives_of(headers: &HeaderMap, name: &HeaderName) -> Option<Vec<String>> {
    let mut directives = Vec::new();
    for value in headers.get_all(name) {
        let parts = split(value.to_str().ok()?)?;
        directives.extend(parts.into_iter().map(str::to_owned));
    }
    Some(directives)
}

/// Whether any `name` line holds `no-store`, read as bytes.
fn mentions_no_store(headers: &HeaderMap, name: &HeaderName) -> bool {
    headers.get_all(name).iter().any(|value| {
        value
            .as_bytes()
            .windows(b"no-store".len())
            .any(|w| w.eq_ignore_ascii_case(b"no-store"))
    })
}

/// A directive's name, lowercased: `max-age` of `Max-Age=60`.
fn directive(d: &str) -> String {
    let end = d.find('=').unwrap_or(d.len());
    d[..end].trim().to_ascii_lowercase()
}

/// The comma-separated directives of one header value, trimmed; commas
/// inside a quoted string (`no-cache="a, b"`) do not split. `None` for a
/// quoted string left open.
fn split(value: &str) -> Option<Vec<&str>> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if quoted {
        return None;
    }
    parts.push(&value[start..]);
    Some(
        parts
            .into_iter()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn after(values: &[&str]) -> Vec<String> {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(CACHE_CONTROL, HeaderValue::from_str(v).unwrap());
        }
        keep_private(&mut headers);
        headers
            .get_all(CACHE_CONTROL)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    fn vary_after(values: &[&str]) -> Vec<String> {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(VARY, HeaderValue::from_str(v).unwrap());
        }
        vary_by_cookie(&mut headers);
        let all = headers.get_all(VARY).iter();
        all.map(|v| v.to_str().unwrap().to_owned()).collect()
    }

    #[test]
    fn vary_names_the_cookie_once() {
        assert_eq!(vary_after(&[]), ["Cookie"]);
        assert_eq!(
            vary_after(&["Accept-Encoding"]),
            ["Accept-Encoding", "Cookie"]
        );
        assert_eq!(vary_after(&["accept, COOKIE"]), ["accept, COOKIE"]);
        assert_eq!(vary_after(&["accept", " cookie "]), ["accept", " cookie "]);
        assert_eq!(vary_after(&["*"]), ["*"]);
        // A name that merely contains the word is another header.
        assert_eq!(
            vary_after(&["x-cookie-consent"]),
            ["x-cookie-consent", "Cookie"]
        );
    }

    #[test]
    fn none_becomes_private() {
        assert_eq!(after(&[]), ["private"]);
    }

    #[test]
    fn shared_cache_directives_give_way_to_private() {
        assert_eq!(after(&["public, max-age=600"]), ["max-age=600, private"]);
        assert_eq!(
            after(&["S-MaxAge=60", "must-revalidate"]),
            ["must-revalidate, private"]
        );
        assert_eq!(
            after(&[r#"no-cache="set-cookie, x", public"#]),
            [r#"no-cache="set-cookie, x", private"#]
        );
    }

    #[test]
    fn private_or_no_store_stays_as_it_is() {
        assert_eq!(after(&["private, max-age=60"]), ["private, max-age=60"]);
        assert_eq!(after(&["no-store", "public"]), ["no-store", "public"]);
        assert_eq!(after(&["PRIVATE"]), ["PRIVATE"]);
    }

    #[test]
    fn a_field_qualified_private_still_needs_the_whole_response_private() {
        assert_eq!(
            after(&[r#"private="x-user", public"#]),
            [r#"private="x-user", private"#]
        );
    }

    #[test]
    fn a_cdns_own_headers_are_made_private_too() {
        let mut headers = HeaderMap::new();
        headers.insert(CDN_CACHE_CONTROL, HeaderValue::from_static("max-age=600"));
        headers.insert(SURROGATE_CONTROL, HeaderValue::from_static("max-age=600"));
        keep_private(&mut headers);
        assert_eq!(headers[CACHE_CONTROL], "private");
        assert_eq!(headers[CDN_CACHE_CONTROL], "max-age=600, private");
        assert_eq!(headers[SURROGATE_CONTROL], "no-store");

        let mut headers = HeaderMap::new();
        headers.insert(
            SURROGATE_CONTROL,
            HeaderValue::from_static("content=\"ESI/1.0\", Max-Age=600+60"),
        );
        keep_private(&mut headers);
        assert_eq!(headers[SURROGATE_CONTROL], "content=\"ESI/1.0\", no-store");

        let mut headers = HeaderMap::new();
        keep_private(&mut headers);
        assert!(!headers.contains_key(CDN_CACHE_CONTROL));
        assert!(!headers.contains_key(SURROGATE_CONTROL));
    }

    /// The handler's `no-store` is kept (README: "`no-store` kept"), also
    /// when another of its directives holds a byte that is not ASCII text:
    /// `private` alone would let the browser's cache store the page.
    #[test]
    fn no_store_is_kept_beside_an_unreadable_value() {
        let mut headers = HeaderMap::new();
        headers.append(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.append(
            CACHE_CONTROL,
            HeaderValue::from_bytes(b"no-cache=\"x-\xe9\"").unwrap(),
        );
        keep_private(&mut headers);
        let kept = headers
            .get_all(CACHE_CONTROL)
            .iter()
            .any(|v| String::from_utf8_lossy(v.as_bytes()).contains("no-store"));
        assert!(kept, "no-store lost: {:?}", headers.get_all(CACHE_CONTROL));
    }

    /// A handler's value with an unterminated quoted string: the `private`
    /// appended after it must not end up inside that string, where a parser
    /// (this module's own `split`) does not see it.
    #[test]
    fn private_is_not_swallowed_by_an_unterminated_quote() {
        let out = after(&[r#"public, no-cache="set-cookie"#]);
        let directives: Vec<&str> = out
            .iter()
            .flat_map(|v| split(v).unwrap_or_default())
            .collect();
        assert!(
            directives
                .iter()
                .any(|d| d.eq_ignore_ascii_case("private") || directive(d) == "no-store"),
            "no private directive in {out:?} (parsed as {directives:?})"
        );
    }

    #[test]
    fn an_unreadable_value_becomes_private() {
        let mut headers = HeaderMap::new();
        headers.insert(
            CACHE_CONTROL,
            HeaderValue::from_bytes(b"public\xff").unwrap(),
        );
        keep_private(&mut headers);
        assert_eq!(headers[CACHE_CONTROL], "private");
    }
}

/// A handler's caching headers are its own to write, any bytes at all:
/// under generated cases, a response that carries a session token always
/// leaves here readable and `private` or `no-store` (`no-store` for a
/// surrogate), keeps a `no-store` the handler wrote, and asks no shared
/// cache to store it unless it already was `private` or `no-store`.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// Header values made of directive pieces, quotes, escapes and bytes
    /// that are not text.
    fn value() -> impl Strategy<Value = HeaderValue> {
        let piece = prop_oneof![
            prop::sample::select(vec![
                "public",
                "private",
                "PRIVATE",
                "private=\"x-user\"",
                "no-store",
                "No-Store",
                "s-maxage=60",
                "max-age=600",
                "no-cache=\"set-cookie, x\"",
                "content=\"ESI/1.0\"",
                ", ",
                ",",
                " ",
                "\"",
                "\\",
                "=",
                "\t",
            ])
            .prop_map(|p| p.as_bytes().to_vec()),
            prop::collection::vec(prop_oneof![0x20u8..=0x7e, 0x80u8..=0xff], 1..4),
        ];
        prop::collection::vec(piece, 0..6)
            .prop_map(|pieces| pieces.concat())
            .prop_filter_map("a header value", |v| HeaderValue::from_bytes(&v).ok())
    }

    fn headers() -> impl Strategy<Value = HeaderMap> {
        let lines = |name: HeaderName| {
            prop::collection::vec(value(), 0..3).prop_map(move |values| {
                values
                    .into_iter()
                    .map(|v| (name.clone(), v))
                    .collect::<Vec<_>>()
            })
        };
        (
            lines(CACHE_CONTROL),
            lines(CDN_CACHE_CONTROL),
            lines(SURROGATE_CONTROL),
        )
            .prop_map(|(a, b, c)| {
                let mut headers = HeaderMap::new();
                for (name, value) in a.into_iter().chain(b).chain(c) {
                    headers.append(name, value);
                }
                headers
            })
    }

    fn has(directives: &[String], wanted: &str) -> bool {
        directives.iter().any(|d| {
            let exact = d.eq_ignore_ascii_case(wanted);
            exact || (wanted == "no-store" && directive(d) == "no-store")
        })
    }

    fn values(headers: &HeaderMap, name: &HeaderName) -> Vec<Vec<u8>> {
        let all = headers.get_all(name).iter();
        all.map(|v| v.as_bytes().to_vec()).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn any_caching_headers_leave_private(before in headers()) {
            let mut after = before.clone();
            keep_private(&mut after);
            for name in [CACHE_CONTROL, CDN_CACHE_CONTROL] {
                if name != CACHE_CONTROL && !before.contains_key(&name) {
                    prop_assert!(!after.contains_key(&name));
                    continue;
                }
                let Some(out) = directives_of(&after, &name) else {
                    return Err(TestCaseError::fail(format!("{name} unreadable: {after:?}")));
                };
                prop_assert!(has(&out, "private") || has(&out, "no-store"), "{:?}", out);
                let spelled = directives_of(&before, &name)
                    .map_or_else(|| mentions_no_store(&before, &name), |d| has(&d, "no-store"));
                if spelled {
                    prop_assert!(has(&out, "no-store"), "{:?} lost no-store: {:?}", before, out);
                }
                if values(&after, &name) != values(&before, &name) {
                    for d in &out {
                        let d = directive(d);
                        prop_assert!(d != "public" && d != "s-maxage", "{:?}", out);
                    }
                }
            }
            if before.contains_key(&SURROGATE_CONTROL) {
                let out = directives_of(&after, &SURROGATE_CONTROL);
                prop_assert!(out.is_some_and(|d| has(&d, "no-store")), "{:?}", after);
            } else {
                prop_assert!(!after.contains_key(&SURROGATE_CONTROL));
            }
        }
    }
}
