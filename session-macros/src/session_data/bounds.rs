//! What each field's type must implement: checked once per field, on the
//! field's type, and assumed by the generated impls.
//!
//! Without this, a field type missing a trait fails every generated use of
//! the field and every impl whose auto traits depend on it, each error at
//! the struct's name or the attribute. With it, the impls hold under a
//! `where for<'__f> Field: Bounds` clause: the `for<'__f>` keeps rustc from
//! checking the clause where it is written (a bound naming no parameter is
//! otherwise refused when false), so only the per-field check reports it.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::Type;
use syn::spanned::Spanned;

use super::model::{FieldModel, Model};
use crate::self_type::replace_self;

/// The field's type with `Self` as the struct's name: the bounds are
/// written on impls for other types (`InfoTracked`), where `Self` differs.
fn field_type(m: &Model, f: &FieldModel) -> Type {
    let name = &m.item.ident;
    replace_self(&f.ty, &syn::parse_quote!(#name))
}

/// Which serde traits a field's type needs: none when skipped, or for a
/// direction it has its own function for.
fn serde_needs(f: &FieldModel) -> (bool, bool) {
    match f.stored {
        None => (false, false),
        Some(_) => (f.serialize_with.is_none(), f.deserialize_with.is_none()),
    }
}

/// One check per field (and `Default` on the struct's name), each an error
/// on that token with the runtime trait's message.
pub(super) fn checks(m: &Model, sp: &TokenStream) -> TokenStream {
    let core = quote::quote!(#sp::session_core);
    let name = &m.item.ident;
    let mut out = quote_spanned! {name.span()=>
        const _: fn() -> #name = <#name as ::core::default::Default>::default;
    };
    for f in &m.fields {
        let ty = field_type(m, f);
        let span = f.ty.span();
        // A `<Type as Trait>` path: rustc underlines the whole type. Not
        // for a skipped field: only the struct must be `Send + Sync`, which
        // an `unsafe impl` may assert over a field that is not.
        if f.stored.is_some() {
            out.extend(quote_spanned! {span=>
                const _: () = <#ty as #core::data::SharedField>::CHECK;
            });
        }
        out.extend(match serde_needs(f) {
            (true, true) => serde_probe(&f.ty, &ty, &core),
            (true, false) => quote_spanned! {span=>
                const _: () = <#ty as #core::data::SerializeField>::CHECK;
            },
            (false, true) => quote_spanned! {span=>
                const _: () = <#ty as #core::data::DeserializeField>::CHECK;
            },
            (false, false) => TokenStream::new(),
        });
    }
    out
}

/// `(&&SerdeProbe::<Type>::new()).probe_session_field()` with the probe's two traits in
/// scope (see `session_core::data::SerdeProbe`): one error for a type with
/// neither serde trait. rustc puts it on the method's name, so on one
/// token: the type's first.
fn serde_probe(written: &Type, ty: &Type, core: &TokenStream) -> TokenStream {
    // At the call site, where `unused_imports` leaves the unused one of
    // the two imports to the macro: an `allow` would be refused where the
    // crate forbids the lint.
    let traits = quote!(use #core::data::{ProbeSerialized as _, ProbeUnserialized as _};);
    let probe = quote_spanned! {written.span()=>
        let _ = || (&&#core::data::SerdeProbe::<#ty>::new()).probe_session_field();
    };
    quote! {
        #[allow(clippy::needless_borrow)] // The borrows pick the check.
        const _: () = {
            #traits
            #probe
        };
    }
}

/// The `where` clause of every generated impl: what the checks assert.
///
/// `'__f` is named at the macro's call site: it is never used, and
/// `unused_lifetimes` leaves that to the macro there (an `allow` would be
/// refused where the crate forbids the lint).
pub(super) fn where_clause(m: &Model, sp: &TokenStream) -> TokenStream {
    let name = &m.item.ident;
    let bound = syn::Lifetime::new("'__f", Span::call_site());
    let mut predicates = vec![quote_spanned! {name.span()=>
        for<#bound> #name: ::core::default::Default
    }];
    for f in &m.fields {
        let ty = field_type(m, f);
        let span = f.ty.span();
        if f.stored.is_some() {
            predicates.push(quote_spanned! {span=>
                for<#bound> #ty: ::core::marker::Send + ::core::marker::Sync + 'static
            });
        }
        let (ser, de) = serde_needs(f);
        if ser {
            predicates.push(quote_spanned!(span=> for<#bound> #ty: #sp::serde::Serialize));
        }
        if de {
            predicates
                .push(quote_spanned!(span=> for<#bound> #ty: #sp::serde::de::DeserializeOwned));
        }
    }
    quote!(where #(#predicates,)*)
}
