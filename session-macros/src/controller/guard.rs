//! `#[authenticated]`, `#[authenticated(permissions = [..])]`, `#[unauthenticated]`.

use syn::{Attribute, Expr, ExprArray, Lit, LitStr, Meta};

/// What a controller or route requires.
#[derive(Clone)]
pub(super) enum GuardSpec {
    Open,
    Authenticated(Vec<LitStr>),
}

impl GuardSpec {
    /// What a route requires under this controller guard: its own
    /// `#[authenticated(..)]` adds to the controller's (a route never asks
    /// less by naming fewer permissions); only `#[unauthenticated]` opens it.
    pub(super) fn for_route(&self, route: Option<&GuardSpec>) -> GuardSpec {
        match (self, route) {
            (_, None) => self.clone(),
            (_, Some(GuardSpec::Open)) => GuardSpec::Open,
            (GuardSpec::Open, Some(own)) => own.clone(),
            (GuardSpec::Authenticated(base), Some(GuardSpec::Authenticated(own))) => {
                let mut all = base.clone();
                for p in own {
                    if !all.iter().any(|b| b.value() == p.value()) {
                        all.push(p.clone());
                    }
                }
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
    let mut permissions = Vec::new();
    match &attr.meta {
        Meta::Path(_) => {}
        Meta::NameValue(nv) => {
            return Err(syn::Error::new_spanned(
                &nv.value,
                "expected `#[authenticated]` or `#[authenticated(permissions = [\"...\"])]`",
            ));
        }
        Meta::List(_) => {
            let mut seen = false;
            attr.parse_nested_meta(|meta| {
                if !meta.path.is_ident("permissions") {
                    let key = meta
                        .path
                        .get_ident()
                        .map(ToString::to_string)
                        .unwrap_or_default();
                    return Err(meta.error(format!(
                        "unknown key `{key}` in #[authenticated]; expected: permissions"
                    )));
                }
                if seen {
                    return Err(meta.error("duplicate key `permissions`"));
                }
                seen = true;
                let value: Expr = meta.value()?.parse()?;
                let Expr::Array(ExprArray { elems, .. }) = &value else {
                    return Err(syn::Error::new_spanned(
                        &value,
                        "expected a list of permission strings, like `permissions = [\"admin\"]`",
                    ));
                };
                for elem in elems {
                    match elem {
                        Expr::Lit(lit) if matches!(lit.lit, Lit::Str(_)) => {
                            if let Lit::Str(s) = &lit.lit {
                                if s.value().is_empty() {
                                    return Err(syn::Error::new_spanned(
                                        s,
                                        "a permission cannot be empty",
                                    ));
                                }
                                permissions.push(s.clone());
                            }
                        }
                        other => {
                            return Err(syn::Error::new_spanned(
                                other,
                                "permissions are string literals",
                            ));
                        }
                    }
                }
                Ok(())
            })?;
        }
    }
    Ok(GuardSpec::Authenticated(permissions))
}
