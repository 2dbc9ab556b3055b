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

/// Whether an attribute marks its item deprecated, or lets it name
/// deprecated items (`allow` or `expect` of the lint, or of `warnings`,
/// which holds it), or is a `cfg_attr` that may do either. The code
/// generated from such an item names what it names, so it allows the lint
/// too; only then, as a crate may forbid it.
pub(crate) fn touches_deprecated(attr: &syn::Attribute) -> bool {
    fn names_lint(tokens: TokenStream) -> bool {
        tokens.into_iter().any(|t| match t {
            proc_macro2::TokenTree::Ident(i) => i == "deprecated" || i == "warnings",
            proc_macro2::TokenTree::Group(g) => names_lint(g.stream()),
            _ => false,
        })
    }
    if attr_is(attr, "deprecated") {
        return true;
    }
    let path = attr.path();
    let wraps = ["allow", "expect", "cfg_attr"]
        .iter()
        .any(|name| path.is_ident(name));
    match &attr.meta {
        syn::Meta::List(list) if wraps => names_lint(list.tokens.clone()),
        _ => false,
    }
}
