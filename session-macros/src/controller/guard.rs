//! `#[authenticated]`, `#[authenticated(permissions = [..], recent_login_secs = N)]`,
//! `#[unauthenticated]`.

use syn::{Attribute, Expr, ExprArray, Lit, LitStr, Meta};

/// What a controller or route requires.
#[derive(Clone)]
pub(super) enum GuardSpec {
    Open,
    Authenticated(Required),
}

/// What `#[authenticated(..)]` asks of the principal.
#[derive(Clone, Default)]
pub(super) struct Required {
    pub(super) permissions: Vec<LitStr>,
    /// The oldest session login accepted, in seconds.
    pub(super) recent_login_secs: Option<u64>,
}

impl GuardSpec {
    /// What a route requires under this controller guard: its own
    /// `#[authenticated(..)]` adds to the controller's (a route never asks
    /// less by naming fewer permissions or a longer time since the login);
    /// only `#[unauthenticated]` opens it.
    pub(super) fn for_route(&self, route: Option<&GuardSpec>) -> GuardSpec {
        match (self, route) {
            (_, None) => self.clone(),
            (_, Some(GuardSpec::Open)) => GuardSpec::Open,
            (GuardSpec::Open, Some(own)) => own.clone(),
            (GuardSpec::Authenticated(base), Some(GuardSpec::Authenticated(own))) => {
                let mut all = base.clone();
                for p in &own.permissions {
                    if !all.permissions.iter().any(|b| b.value() == p.value()) {
                        all.permissions.push(p.clone());
                    }
                }
                all.recent_login_secs = match (base.recent_login_secs, own.recent_login_secs) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                GuardSpec::Authenticated(all)
            }
        }
    }
}

pub(super) const GUARDS: [&str; 2] = ["authenticated", "unauthenticated"];

pub(super) fn is_guard(attr: &Attribute) -> bool {
    GUARDS.iter().any(|g| crate::ctxt::attr_is(attr, g))
}

pub(super) fn parse(attr: &Attribute) -> syn::Result<GuardSpec> {
    if crate::ctxt::attr_is(attr, "unauthenticated") {
        if !matches!(attr.meta, Meta::Path(_)) {
            return Err(syn::Error::new_spanned(
                &attr.meta,
                "#[unauthenticated] takes no arguments",
            ));
        }
        return Ok(GuardSpec::Open);
    }
    let mut required = Required::default();
    match &attr.meta {
        Meta::Path(_) => {}
        Meta::NameValue(nv) => {
            return Err(syn::Error::new_spanned(
                &nv.value,
                "expected `#[authenticated]` or `#[authenticated(permissions = [\"...\"])]`",
            ));
        }
        Meta::List(list) => {
            unnamed_permissions(list)?;
            let (mut permissions_seen, mut recent_seen) = (false, false);
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("recent_login_secs") {
                    if recent_seen {
                        return Err(meta.error("duplicate key `recent_login_secs`"));
                    }
                    recent_seen = true;
                    let value: Expr = meta.value()?.parse()?;
                    required.recent_login_secs = Some(seconds(&value)?);
                    return Ok(());
                }
                if !meta.path.is_ident("permissions") {
                    let key = meta
                        .path
                        .get_ident()
                        .map(ToString::to_string)
                        .unwrap_or_default();
                    return Err(meta.error(format!(
                        "unknown key `{key}` in #[authenticated]; expected: permissions, recent_login_secs"
                    )));
                }
                if permissions_seen {
                    return Err(meta.error("duplicate key `permissions`"));
                }
                permissions_seen = true;
                let value: Expr = meta.value()?.parse()?;
                required.permissions = permissions(&value)?;
                Ok(())
            })?;
        }
    }
    Ok(GuardSpec::Authenticated(required))
}

/// `#[authenticated("admin")]` or `#[authenticated(["admin"])]`: the
/// permissions without their key.
fn unnamed_permissions(list: &syn::MetaList) -> syn::Result<()> {
    let unnamed = list.parse_args_with(|input: syn::parse::ParseStream| {
        let found = if input.peek(LitStr) || input.peek(syn::token::Bracket) {
            Some(input.parse::<Expr>()?)
        } else {
            None
        };
        input.parse::<proc_macro2::TokenStream>()?;
        Ok(found)
    });
    let Ok(Some(value)) = unnamed else {
        return Ok(());
    };
    let list = match &value {
        Expr::Array(_) => quote::ToTokens::to_token_stream(&value).to_string(),
        other => format!("[{}]", quote::ToTokens::to_token_stream(other)),
    };
    Err(syn::Error::new_spanned(
        value,
        format!("permissions are named: write `#[authenticated(permissions = {list})]`"),
    ))
}

/// `permissions = [..]`: non-empty string literals.
fn permissions(value: &Expr) -> syn::Result<Vec<LitStr>> {
    let Expr::Array(ExprArray { elems, .. }) = value else {
        return Err(syn::Error::new_spanned(
            value,
            "expected a list of permission strings, like `permissions = [\"admin\"]`",
        ));
    };
    elems
        .iter()
        .map(|elem| match elem {
            Expr::Lit(lit) => match &lit.lit {
                Lit::Str(s) if s.value().is_empty() => {
                    Err(syn::Error::new_spanned(s, "a permission cannot be empty"))
                }
                Lit::Str(s) => Ok(s.clone()),
                _ => Err(syn::Error::new_spanned(
                    elem,
                    "permissions are string literals",
                )),
            },
            other => Err(syn::Error::new_spanned(
                other,
                "permissions are string literals",
            )),
        })
        .collect()
}

/// `recent_login_secs = N`: a whole number of seconds above 0.
fn seconds(value: &Expr) -> syn::Result<u64> {
    const EXPECTED: &str =
        "expected a whole number of seconds above 0, like `recent_login_secs = 600`";
    let Expr::Lit(syn::ExprLit {
        lit: Lit::Int(int), ..
    }) = value
    else {
        return Err(syn::Error::new_spanned(value, EXPECTED));
    };
    match int.base10_parse::<u64>() {
        Ok(0) | Err(_) => Err(syn::Error::new_spanned(int, EXPECTED)),
        Ok(secs) => Ok(secs),
    }
}
