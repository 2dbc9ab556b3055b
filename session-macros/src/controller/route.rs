//! Route attributes (`#[get("/p")]` ...) and compile-time path checks.

use proc_macro2::Span;
use syn::{Attribute, LitStr, Meta};

use crate::ctxt::attr_is;

pub(super) const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// A route attribute: its method (as written, for spans) and path.
pub(super) struct RouteAttr {
    pub(super) method: syn::Ident,
    pub(super) path: LitStr,
}

pub(super) fn is_route(attr: &Attribute) -> bool {
    METHODS.iter().any(|m| attr_is(attr, m))
}

pub(super) fn parse(attr: &Attribute) -> syn::Result<RouteAttr> {
    let method = attr
        .path()
        .segments
        .last()
        .map(|s| s.ident.clone())
        .ok_or_else(|| syn::Error::new_spanned(attr, "expected a route attribute"))?;
    let path = match &attr.meta {
        Meta::Path(p) => LitStr::new(
            "/",
            p.segments
                .last()
                .map_or_else(Span::call_site, |s| s.ident.span()),
        ),
        Meta::List(list) => list.parse_args_with(|input: syn::parse::ParseStream| {
            let path = input.parse::<LitStr>().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    format!("expected a path string, like `#[{method}(\"/items/{{id}}\")]`"),
                )
            })?;
            if !input.is_empty() {
                return Err(input.error(format!(
                    "`#[{method}]` takes only the path: a guard goes in its own attribute, such as `#[authenticated]`"
                )));
            }
            Ok(path)
        })?,
        Meta::NameValue(nv) => {
            return Err(syn::Error::new_spanned(
                &nv.value,
                format!("expected `#[{method}(\"/path\")]`"),
            ));
        }
    };
    check_path(&path)?;
    Ok(RouteAttr { method, path })
}

/// Checks the syntax the router accepts: leading `/`, no empty segments,
/// parameters `{name}` or a final `{*name}` (after static text in their
/// segment at most), each name once, and only characters a request path
/// holds unencoded (else no request matches).
pub(super) fn check_path(lit: &LitStr) -> syn::Result<()> {
    let path = lit.value();
    let err = |message: String| Err(syn::Error::new(lit.span(), message));
    if path.is_empty() {
        return err("route path is empty: `/` is the controller's base path itself".to_owned());
    }
    if !path.starts_with('/') {
        return err(format!("route path `{path}` must start with `/`"));
    }
    if path == "/" {
        return Ok(());
    }
    let segments: Vec<&str> = path[1..].split('/').collect();
    let mut names: Vec<&str> = Vec::new();
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        if segment.is_empty() {
            if last {
                continue;
            }
            return err(format!("route path `{path}` has an empty segment (`//`)"));
        }
        // Older axum spellings; the fix-it only where it would be valid.
        if let Some(name) = segment.strip_prefix(':').filter(|n| is_name(n)) {
            return err(format!(
                "`:{name}` is not a parameter here: write `{{{name}}}`"
            ));
        }
        if let Some(name) = segment.strip_prefix('*').filter(|n| is_name(n)) {
            return err(format!(
                "`*{name}` is not a parameter here: write `{{*{name}}}`"
            ));
        }
        if segment.starts_with([':', '*']) {
            return err(format!(
                "`{segment}` is not a parameter here: use `{{name}}` or a final `{{*name}}`"
            ));
        }
        if !segment.contains(['{', '}']) {
            if let Some(c) = segment.chars().find(|&c| !is_path_char(c)) {
                return err(unreachable_char(&path, c));
            }
            continue;
        }
        let malformed = || {
            err(format!(
                "malformed parameter `{segment}` in `{path}`: use `{{name}}` or a final `{{*name}}`"
            ))
        };
        // Static text may come before the parameter in its segment
        // (`file-{name}`), never after it: the router ends a parameter at
        // the next `/` or the end of the path.
        let Some((prefix, param)) = segment
            .find('{')
            .map(|at| segment.split_at(at))
            .filter(|(prefix, _)| !prefix.contains('}'))
        else {
            return malformed();
        };
        if let Some(c) = prefix.chars().find(|&c| !is_path_char(c)) {
            return err(unreachable_char(&path, c));
        }
        let Some(close) = param.find('}') else {
            return malformed();
        };
        let (param, after) = param.split_at(close + 1);
        if !after.is_empty() {
            return err(format!(
                "`{segment}` in `{path}` has text after its parameter: the router ends a parameter at the next `/` or the end of the path (text before it, as in `file-{{name}}`, is fine)"
            ));
        }
        let inner = &param[1..param.len() - 1];
        let (name, wildcard) = match inner.strip_prefix('*') {
            Some(name) => (name, true),
            None => (inner, false),
        };
        let valid = is_name(name);
        if !valid || (wildcard && !last) {
            return malformed();
        }
        if names.contains(&name) {
            return err(format!("parameter `{name}` appears twice in `{path}`"));
        }
        names.push(name);
    }
    Ok(())
}

/// Why `path` cannot sit under the controller's `base` (both checked
/// alone already), if it cannot: after a catch-all in the base only the
/// base itself (`/`) remains, and a parameter is named once in the whole path.
pub(super) fn check_under_base(base: &str, path: &str) -> Option<String> {
    if path == "/" {
        return None;
    }
    if let Some(rest) = base.split('/').find(|s| s.contains("{*")) {
        return Some(format!(
            "`{path}` cannot sit under the base path `{base}`, whose catch-all `{rest}` takes the rest of the path: only `/` (the base itself) can"
        ));
    }
    let base_names = parameter_names(base);
    parameter_names(path)
        .into_iter()
        .find(|name| base_names.contains(name))
        .map(|name| {
            format!(
                "parameter `{name}` is already in the base path `{base}`: a route's parameters take other names"
            )
        })
}

/// The names of a checked path's parameters, catch-all included.
fn parameter_names(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|s| s.split_once('{'))
        .map(|(_, p)| p.trim_end_matches('}').trim_start_matches('*'))
        .collect()
}

fn is_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether `c` reaches the router as written: the router compares routes
/// with the path as sent, clients percent-encode spaces, controls,
/// non-ASCII, quotes, angle brackets, backslashes, backticks and (browsers,
/// lately) `^`, and `?` and `#` end the path.
fn is_path_char(c: char) -> bool {
    c.is_ascii_graphic() && !"?#\"<>\\`^".contains(c)
}

fn unreachable_char(path: &str, c: char) -> String {
    match c {
        '?' => format!(
            "route path `{path}` holds `?`: a query is not part of the path; read it with `Query<T>`"
        ),
        '#' => format!("route path `{path}` holds `#`: a fragment never reaches the server"),
        _ => {
            let mut buf = [0u8; 4];
            let encoded: String = c
                .encode_utf8(&mut buf)
                .bytes()
                .map(|b| format!("%{b:02X}"))
                .collect();
            format!(
                "route path `{path}` holds {c:?}, which clients send percent-encoded: write `{encoded}`"
            )
        }
    }
}

/// The path with parameter names erased, for duplicate detection.
pub(super) fn shape(path: &str) -> String {
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
/// catch-all, which it tells apart in neither order (`/{a}` and `/{*b}`;
/// also `/{a}/x` and `/{*b}`). Routes of one controller share its base, so
/// their own paths compare as their full ones would.
pub(super) fn wildcard_clash(a: &str, b: &str) -> bool {
    let (a, b) = (shape(a), shape(b));
    a.match_indices('{').any(|(i, _)| {
        b.get(..i) == Some(&a[..i])
            && b[i..].starts_with('{')
            && a[i..].starts_with("{*") != b[i..].starts_with("{*")
    })
}
