//! Route and guard attributes seen on their own: the `#[controller]` macro
//! consumes them, so reaching here means they sit outside a controller.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::Item;

use crate::ctxt::{attr_is, with_item};

pub(crate) fn outside_controller(name: &str, _args: TokenStream, item: TokenStream) -> TokenStream {
    let error = syn::Error::new(
        Span::call_site(),
        format!(
            "`#[{name}]` can only be used on a method inside a `#[controller(\"/base\")]` impl block"
        ),
    );
    with_item(item, Err(error))
}

/// `#[authenticated]` above `#[controller]`: move it below, where the
/// controller macro reads it. Anywhere else it is misplaced.
pub(crate) fn authenticated(args: TokenStream, item: TokenStream) -> TokenStream {
    if let Ok(Item::Impl(mut imp)) = syn::parse2::<Item>(item.clone())
        && let Some(pos) = imp.attrs.iter().position(|a| attr_is(a, "controller"))
    {
        let attr: syn::Attribute = if args.is_empty() {
            syn::parse_quote!(#[authenticated])
        } else {
            syn::parse_quote!(#[authenticated(#args)])
        };
        imp.attrs.insert(pos + 1, attr);
        return quote!(#imp);
    }
    outside_controller("authenticated", args, item)
}
