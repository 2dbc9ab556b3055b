//! Collects errors so one build reports every mistake, not only the first.

use proc_macro2::TokenStream;
use quote::ToTokens;

#[derive(Default)]
pub(crate) struct Errors {
    errors: Option<syn::Error>,
}

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.errors {
            Some(existing) => existing.combine(error),
            None => self.errors = Some(error),
        }
    }

    pub(crate) fn error(&mut self, tokens: impl ToTokens, message: impl std::fmt::Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    /// Keeps the value of `result`, recording its error.
    pub(crate) fn ok<T>(&mut self, result: syn::Result<T>) -> Option<T> {
        result.map_err(|e| self.push(e)).ok()
    }

    pub(crate) fn finish(self) -> syn::Result<()> {
        match self.errors {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// On failure, the original item plus the errors, so the IDE still sees the item.
pub(crate) fn with_item(item: TokenStream, result: syn::Result<TokenStream>) -> TokenStream {
    match result {
        Ok(tokens) => tokens,
        Err(error) => {
            let errors = error.into_compile_error();
            quote::quote!(#item #errors)
        }
    }
}

/// Whether an attribute's path ends in `name` (`get`, `session_axum::get`).
pub(crate) fn attr_is(attr: &syn::Attribute, name: &str) -> bool {
    attr.path().segments.last().is_some_and(|s| s.ident == name)
}

/// The lint allowance code generated from an item carries, read from the
/// item's own attributes. The generated code names what the item names, so
/// where the item is deprecated or allows the lint (`allow` or `expect` of
/// it, or a `cfg_attr` that may), it allows `deprecated`; where it allows
/// all warnings, it allows them too (accepted where a crate forbids
/// `deprecated`, as the user's own is). Nothing otherwise, as a crate may
/// forbid the lint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Allowance {
    #[default]
    None,
    Warnings,
    Deprecated,
}

impl Allowance {
    /// What one attribute asks for.
    pub(crate) fn of(attr: &syn::Attribute) -> Self {
        fn names(tokens: TokenStream, lint: &str) -> bool {
            tokens.into_iter().any(|t| match t {
                proc_macro2::TokenTree::Ident(i) => i == lint,
                proc_macro2::TokenTree::Group(g) => names(g.stream(), lint),
                _ => false,
            })
        }
        if attr_is(attr, "deprecated") {
            return Self::Deprecated;
        }
        let path = attr.path();
        let wraps = ["allow", "expect", "cfg_attr"]
            .iter()
            .any(|name| path.is_ident(name));
        match &attr.meta {
            syn::Meta::List(list) if wraps && names(list.tokens.clone(), "deprecated") => {
                Self::Deprecated
            }
            syn::Meta::List(list) if wraps && names(list.tokens.clone(), "warnings") => {
                Self::Warnings
            }
            _ => Self::None,
        }
    }

    /// What a set of attributes asks for, all told.
    pub(crate) fn of_all<'a>(attrs: impl IntoIterator<Item = &'a syn::Attribute>) -> Self {
        attrs.into_iter().map(Self::of).max().unwrap_or_default()
    }

    /// The attribute the generated code carries.
    pub(crate) fn attribute(self) -> TokenStream {
        match self {
            Self::None => TokenStream::new(),
            Self::Warnings => quote::quote!(#[allow(warnings)]),
            Self::Deprecated => quote::quote!(#[allow(deprecated)]),
        }
    }
}
