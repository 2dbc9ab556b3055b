//! `#[session_data]`: parse into [`Model`], check, then [`expand`](expand::generate).

mod expand;
mod model;

use proc_macro2::TokenStream;

use quote::ToTokens;

use crate::ctxt::with_item;

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let result = model::Model::parse(args, item.clone()).map(|m| expand::generate(&m));
    with_item(without_serde_attributes(item), result)
}

/// The item minus `#[serde]` field attributes unless a serde derive needs
/// them: on an error it is emitted as is, and stray `#[serde]` attributes
/// would add a second, misleading error.
fn without_serde_attributes(item: TokenStream) -> TokenStream {
    match syn::parse2::<syn::ItemStruct>(item.clone()) {
        Ok(mut s) if !model::derives_serde(&s) => {
            for field in s.fields.iter_mut() {
                field.attrs.retain(|a| !crate::ctxt::attr_is(a, "serde"));
            }
            s.into_token_stream()
        }
        _ => item,
    }
}
