//! `#[controller("/base")]`: parse the impl block into a [`Model`](model::Model),
//! check every route, then generate the registration.

mod cfg;
mod expand;
mod guard;
mod model;
mod route;

use proc_macro2::TokenStream;

use quote::ToTokens;
use syn::ImplItem;

use crate::ctxt::with_item;

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let result = model::Model::parse(args, item.clone()).map(|m| expand::generate(&m));
    with_item(without_helper_attributes(item), result)
}

/// The item minus route and guard attributes: on an error it is emitted as
/// is, and those attributes must not then complain of being outside a controller.
fn without_helper_attributes(item: TokenStream) -> TokenStream {
    let Ok(mut imp) = syn::parse2::<syn::ItemImpl>(item.clone()) else {
        return item;
    };
    // A method's `cfg_attr` holding one of them counts: it expands to it later.
    let conditional = |a: &syn::Attribute| !model::conditional_helpers(a).is_empty();
    imp.attrs.retain(|a| !guard::is_guard(a));
    for impl_item in imp.items.iter_mut() {
        if let Some(attrs) = model::non_method_attrs(impl_item) {
            attrs.retain(|a| !route::is_route(a) && !guard::is_guard(a));
        }
        if let ImplItem::Fn(method) = impl_item {
            method
                .attrs
                .retain(|a| !route::is_route(a) && !guard::is_guard(a) && !conditional(a));
        }
    }
    imp.into_token_stream()
}
