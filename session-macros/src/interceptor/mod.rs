//! `#[interceptor(depends_on = [..], runs_before = [..])]`: registers an
//! `Interceptor` type with the app's registry, or with `registry = false`
//! implements `UnregisteredInterceptor` for apps to add it themselves.

mod expand;
mod model;

use proc_macro2::TokenStream;

use crate::ctxt::with_item;

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let result = model::Model::parse(args.clone(), item.clone()).map(|m| expand::generate(&m));
    if result.is_ok() {
        return with_item(item, result);
    }
    with_item(model::item_for_errors(&args, item), result)
}
