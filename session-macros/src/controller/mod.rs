//! `#[controller("/base")]`: parse the impl block into a [`Model`](model::Model),
//! check every route, then generate the registration.

mod expand;
mod guard;
mod model;
mod route;

use proc_macro2::TokenStream;

use crate::ctxt::with_item;

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let result = model::Model::parse(args, item.clone()).map(|m| expand::generate(&m));
    with_item(item, result)
}
