//! `#[session_data]`: parse into [`Model`], check, then [`expand`](expand::generate).

mod bounds;
mod expand;
mod model;

use proc_macro2::TokenStream;

use quote::ToTokens;

use crate::ctxt::{attr_is, with_item};

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let (model, field_errors) = match model::Model::parse(args, item.clone()) {
        Ok(parsed) => parsed,
        Err(error) => return with_item(item_for_errors(item), Err(error)),
    };
    // Fields' errors go beside the generated code, so uses of the struct
    // elsewhere add no errors of their own.
    let generated = expand::generate(&model);
    match field_errors {
        None => generated,
        Some(errors) => with_item(generated, Err(errors)),
    }
}

/// The item as emitted beside errors: without a second `#[session_data]`
/// (it would expand again), and without `#[serde]` attributes unless a serde
/// derive reads them (stray ones would add a misleading "cannot find
/// attribute `serde`").
fn item_for_errors(item: TokenStream) -> TokenStream {
    let Ok(mut s) = syn::parse2::<syn::ItemStruct>(item.clone()) else {
        return item;
    };
    s.attrs.retain(|a| !attr_is(a, "session_data"));
    if !model::derives_serde(&s) {
        let serde =
            |a: &syn::Attribute| attr_is(a, "serde") || !model::conditional_serde(a).is_empty();
        s.attrs.retain(|a| !serde(a));
        for field in s.fields.iter_mut() {
            field.attrs.retain(|a| !serde(a));
        }
    }
    s.into_token_stream()
}
