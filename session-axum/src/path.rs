//! Route paths: joining a base and a route path, checking the syntax axum accepts.

/// Why a route path is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// Paths start with `/`.
    #[error("route path `{0}` must start with `/`")]
    NoLeadingSlash(String),
    /// `//` inside a path.
    #[error("route path `{0}` has an empty segment")]
    EmptySegment(String),
    /// A `{param}` segment is malformed, or has text after its parameter
    /// (the router takes text before one only).
    #[error(
        "route path `{path}` has a malformed parameter `{segment}`: use `{{name}}` or a final `{{*name}}`, after static text at most"
    )]
    BadParameter {
        /// The path.
        path: String,
        /// The segment.
        segment: String,
    },
    /// A character that never reaches the router as written (`?` and `#`
    /// end the path; clients percent-encode spaces, non-ASCII and a few
    /// more): the route could never match.
    #[error(
        "route path `{path}` holds {character:?}, which never reaches the router as written (write it percent-encoded)"
    )]
    BadCharacter {
        /// The path.
        path: String,
        /// The character.
        character: char,
    },
    /// The same parameter name twice.
    #[error("route path `{path}` uses the parameter `{name}` twice")]
    DuplicateParameter {
        /// The path.
        path: String,
        /// The name.
        name: String,
    },
}

/// Joins a controller base path and a route path: `("/session", "/info")` →
/// `/session/info`; `("/", "/x")` → `/x`; `("/a", "/")` → `/a`. A base's
/// trailing slash is dropped (`("/a/", "/")` → `/a`): a route that wants
/// one (`/a/`, which axum tells apart from `/a`) spells it in its own path.
pub fn join(base: &str, path: &str) -> String {
    let base = base.trim_end_matches('/');
    match path {
        "" | "/" if base.is_empty() => "/".to_owned(),
        "" | "/" => base.to_owned(),
        _ => format!("{base}{path}"),
    }
}

/// The checked full path of route `path` under controller `base`. Both must
/// start with `/` (a route registered by hand may also be empty, meaning the
/// base itself, as `/` does; `#[controller]` takes only `/`):
/// `("/session", "info")` would otherwise join as `/sessioninfo`.
pub fn full(base: &str, path: &str) -> Result<String, PathError> {
    for part in [base, path] {
        if !part.is_empty() && !part.starts_with('/') {
            return Err(PathError::NoLeadingSlash(part.to_owned()));
        }
    }
    let full = join(base, path);
    validate(&full)?;
    Ok(full)
}

/// Checks a full route path.
pub fn validate(path: &str) -> Result<(), PathError> {
    if !path.starts_with('/') {
        return Err(PathError::NoLeadingSlash(path.to_owned()));
    }
    if path == "/" {
        return Ok(());
    }
    let segments: Vec<&str> = path[1..].split('/').collect();
    let mut names: Vec<&str> = Vec::new();
    let last = segments.len() - 1;
    for (i, segment) in segments.iter().enumerate() {
        if segment.is_empty() {
            // A trailing slash is a distinct route in axum; anything else is a typo.
            if i == last {
                continue;
            }
            return Err(PathError::EmptySegment(path.to_owned()));
        }
        let bad = || PathError::BadParameter {
            path: path.to_owned(),
            segment: (*segment).to_owned(),
        };
        // `:name` and `*name` are older axum spellings of parameters.
        if segment.starts_with([':', '*']) {
            return Err(bad());
        }
        let has_brace = segment.contains('{') || segment.contains('}');
        if !has_brace {
            if let Some(character) = segment.chars().find(|&c| !is_path_char(c)) {
                return Err(PathError::BadCharacter {
                    path: path.to_owned(),
                    character,
                });
            }
            continue;
        }
        // Static text may come before the parameter, never after it.
        let (prefix, param) = segment.split_at(segment.find('{').ok_or_else(bad)?);
        if prefix.contains('}') {
            return Err(bad());
        }
        if let Some(character) = prefix.chars().find(|&c| !is_path_char(c)) {
            return Err(PathError::BadCharacter {
                path: path.to_owned(),
                character,
            });
        }
        let inner = param
            .strip_prefix('{')
            .and_then(|s| s.strip_suffix('}'))
            .ok_or_else(bad)?;
        let (name, wildcard) = match inner.strip_prefix('*') {
            Some(name) => (name, true),
            None => (inner, false),
        };
        let valid_name = !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        if !valid_name || (wildcard && i != last) {
            return Err(bad());
        }
        if names.contains(&name) {
            return Err(PathError::DuplicateParameter {
                path: path.to_owned(),
                name: name.to_owned(),
            });
        }
        names.push(name);
    }
    Ok(())
}

/// Whether `c` reaches the router as written: the router compares routes
/// with the path as sent, clients percent-encode spaces, controls,
/// non-ASCII, quotes, angle brackets, backslashes, backticks and (browsers,
/// lately) `^`, and `?` and `#` end the path.
fn is_path_char(c: char) -> bool {
    c.is_ascii_graphic() && !"?#\"<>\\`^".contains(c)
}

/// The path with parameter names erased, so `/u/{id}` and `/u/{name}` compare equal.
pub(crate) fn shape(path: &str) -> String {
    path.split('/')
        .map(|s| match s.split_once('{') {
            Some((prefix, param)) if param.starts_with('*') => format!("{prefix}{{*}}"),
            Some((prefix, _)) => format!("{prefix}{{}}"),
            None => s.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether the router refuses `a` beside `b`: after the same text
/// (parameter names aside), one holds a parameter and the other a
/// catch-all, which it tells apart in neither order (`/f/{a}`, `/f/{*b}`;
/// also `/f/{a}/x`, `/f/{*b}`).
pub(crate) fn wildcard_clash(a: &str, b: &str) -> bool {
    let (a, b) = (shape(a), shape(b));
    a.match_indices('{').any(|(i, _)| {
        b.get(..i) == Some(&a[..i])
            && b[i..].starts_with('{')
            && a[i..].starts_with("{*") != b[i..].starts_with("{*")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_paths() {
        assert_eq!(join("/session", "/info"), "/session/info");
        assert_eq!(join("/session/", "/info"), "/session/info");
        assert_eq!(join("/", "/x"), "/x");
        assert_eq!(join("/a", "/"), "/a");
        assert_eq!(join("/a/", "/"), "/a");
        assert_eq!(join("/", "/a/"), "/a/");
        assert_eq!(join("/", "/"), "/");
    }

    #[test]
    fn validates_segments_and_parameters() {
        for ok in [
            "/",
            "/a",
            "/a/",
            "/users/{id}",
            "/f/{*rest}",
            "/a/{x}/b/{y_2}",
            "/caf%C3%A9/a.b-c_d~e/x:y@z/!$&'()*+,;=",
            "/v[1]/a|b",
            "/u/x{id}",
            "/u/file-{name}/x",
            "/u/v{*rest}",
        ] {
            assert_eq!(validate(ok), Ok(()), "{ok}");
        }
        assert!(matches!(
            validate("info"),
            Err(PathError::NoLeadingSlash(_))
        ));
        assert!(matches!(validate("/a//b"), Err(PathError::EmptySegment(_))));
        for bad in [
            "/users/:id",
            "/u/{id",
            "/u/id}",
            "/u/{}",
            "/u/{*rest}/x",
            "/u/{a-b}",
            "/u/{id}x",
            "/u/{a}{b}",
            "/u/{a}-{b}",
            "/u/x}{a}",
            "/u/v{*rest}/x",
            "/u/{1a}",
            "/files/*rest",
        ] {
            assert!(
                matches!(validate(bad), Err(PathError::BadParameter { .. })),
                "{bad}"
            );
        }
        for (bad, c) in [
            ("/find?all", '?'),
            ("/a#b", '#'),
            ("/caf\u{e9}", '\u{e9}'),
            ("/a b", ' '),
            ("/a\"b", '"'),
            ("/a\\b", '\\'),
            ("/c^d", '^'),
            ("/c^{d}", '^'),
        ] {
            assert_eq!(
                validate(bad),
                Err(PathError::BadCharacter {
                    path: bad.to_owned(),
                    character: c
                }),
                "{bad}"
            );
        }
        assert!(matches!(
            validate("/{a}/{a}"),
            Err(PathError::DuplicateParameter { .. })
        ));
    }

    #[test]
    fn full_paths_need_a_leading_slash_in_both_parts() {
        assert_eq!(full("/session", "/info").as_deref(), Ok("/session/info"));
        assert_eq!(full("/session", "").as_deref(), Ok("/session"));
        for (base, path) in [("/session", "info"), ("session", "/info"), ("", "x")] {
            assert!(
                matches!(full(base, path), Err(PathError::NoLeadingSlash(_))),
                "{base} + {path}"
            );
        }
        assert!(matches!(full("/a", "//b"), Err(PathError::EmptySegment(_))));
    }

    #[test]
    fn shapes_erase_parameter_names() {
        assert_eq!(shape("/u/{id}/x/{*r}"), shape("/u/{name}/x/{*rest}"));
        assert_eq!(shape("/u/a{id}/v{*r}"), shape("/u/a{name}/v{*rest}"));
        assert_ne!(shape("/u/{id}"), shape("/u/new"));
        assert_ne!(shape("/u/a{id}"), shape("/u/{id}"));
    }

    #[test]
    fn a_catch_all_clashes_with_a_parameter_at_the_same_place() {
        for (a, b) in [
            ("/f/{a}", "/f/{*b}"),
            ("/f/{a}/x", "/f/{*b}"),
            ("/f/v{a}", "/f/v{*b}"),
            ("/{a}", "/{*b}"),
        ] {
            assert!(wildcard_clash(a, b), "{a} {b}");
            assert!(wildcard_clash(b, a), "{b} {a}");
        }
        for (a, b) in [
            ("/f/{a}", "/f/v{*b}"),
            ("/f/v{a}", "/f/{*b}"),
            ("/f/{a}", "/g/{*b}"),
            ("/f/{a}", "/f/{b}/x"),
            ("/f/{*a}", "/f/{*b}"),
            ("/f/x", "/f/{*b}"),
        ] {
            assert!(!wildcard_clash(a, b), "{a} {b}");
            assert!(!wildcard_clash(b, a), "{b} {a}");
        }
    }
}
