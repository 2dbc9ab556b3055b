//! The one path generated code uses to reach runtime items.

use proc_macro2::TokenStream;
use quote::quote;

/// `::session_axum::__private`, unless a `crate = path` argument names another
/// crate re-exporting the same items (`session_core` for core-only users).
pub(crate) fn private_path(krate: Option<&syn::Path>) -> TokenStream {
    match krate {
        Some(path) => quote!(#path::__private),
        None => quote!(::session_axum::__private),
    }
}
