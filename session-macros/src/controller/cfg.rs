//! The condition under which a route method or parameter exists, as the
//! plain `#[cfg]`s that the generated code repeats.

use proc_macro2::TokenStream;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Meta, Token};

/// The `#[cfg]`s among `attrs`, a `#[cfg_attr(..)]` holding some counted as
/// the one it amounts to: rustc applies it only after `#[controller]` ran.
pub(super) fn conditions(attrs: &[syn::Attribute]) -> Vec<syn::Attribute> {
    attrs.iter().filter_map(as_cfg).collect()
}

/// `attr` as a plain `#[cfg(..)]`: a `#[cfg(..)]` as it is, a
/// `#[cfg_attr(pred, ..)]` holding `cfg`s (nested ones too) as
/// `#[cfg(any(not(pred), all(..)))]`; its other attributes are left to rustc.
fn as_cfg(attr: &syn::Attribute) -> Option<syn::Attribute> {
    if attr.path().is_ident("cfg") {
        return Some(attr.clone());
    }
    let condition = cfg_attr_condition(&attr.meta)?;
    Some(syn::parse_quote_spanned!(attr.span()=> #[cfg(#condition)]))
}

/// What a `cfg_attr(pred, attrs..)` makes of its `cfg`s, as one condition;
/// `None` when it holds none.
fn cfg_attr_condition(meta: &Meta) -> Option<TokenStream> {
    let Meta::List(list) = meta else {
        return None;
    };
    if !list.path.is_ident("cfg_attr") {
        return None;
    }
    // Malformed: rustc reports it when it evaluates the attribute.
    let parts = list
        .parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)
        .ok()?;
    let mut parts = parts.into_iter();
    let predicate = parts.next()?;
    let conditions: Vec<TokenStream> = parts
        .filter_map(|inner| match &inner {
            Meta::List(cfg) if cfg.path.is_ident("cfg") => Some(cfg.tokens.clone()),
            _ => cfg_attr_condition(&inner),
        })
        .collect();
    (!conditions.is_empty()).then(|| quote::quote!(any(not(#predicate), all(#(#conditions),*))))
}
