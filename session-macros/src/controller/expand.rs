//! Code generation for `#[controller]`: the impl block as written (route and
//! guard attributes removed) plus a registration in the app's registry.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};

use super::guard::GuardSpec;
use super::model::{Model, Route};
use crate::runtime::private_path;

fn guard_tokens(sp: &TokenStream, guard: &GuardSpec) -> TokenStream {
    match guard {
        GuardSpec::Open => quote!(#sp::Guard::OPEN),
        GuardSpec::Authenticated(perms) => {
            quote!(#sp::Guard { authenticated: true, permissions: &[#(#perms),*] })
        }
    }
}

fn handler(sp: &TokenStream, m: &Model, route: &Route) -> TokenStream {
    let self_ty = &m.self_ty;
    let ident = &route.ident;
    let method = format_ident!(
        "{}",
        route.attr.method.to_string(),
        span = route.attr.method.span()
    );
    if !route.takes_self {
        return quote_spanned!(ident.span()=> #sp::axum::routing::#method(<#self_ty>::#ident));
    }
    let args: Vec<_> = (0..route.arg_types.len())
        .map(|i| format_ident!("__arg{}", i))
        .collect();
    let types = &route.arg_types;
    quote_spanned! {ident.span()=>
        {
            let __this = ::std::sync::Arc::clone(&__this);
            #sp::axum::routing::#method(move |#(#args: #types),*| {
                let __this = ::std::sync::Arc::clone(&__this);
                async move { __this.#ident(#(#args),*).await }
            })
        }
    }
}

pub(super) fn generate(m: &Model) -> TokenStream {
    let sp = private_path(m.krate.as_ref());
    let item = &m.item;
    let self_ty = &m.self_ty;
    let name = &m.name;
    let base = &m.base;
    let instance = if !m.routes.iter().any(|r| r.takes_self) {
        quote!()
    } else if m.from_app {
        quote_spanned! {self_ty_span(m)=>
            let __this = ::std::sync::Arc::new(<#self_ty as #sp::FromApp>::from_app(__ctx)?);
        }
    } else {
        quote_spanned! {self_ty_span(m)=>
            let __this = ::std::sync::Arc::new(<#self_ty as ::core::default::Default>::default());
        }
    };
    let defs = m.routes.iter().map(|route| {
        let method = route.attr.method.to_string().to_uppercase();
        let method = format_ident!("{}", method);
        let path = &route.attr.path;
        let guard = guard_tokens(&sp, route.guard.as_ref().unwrap_or(&m.guard));
        let handler = handler(&sp, m, route);
        quote! {
            #sp::RouteDef {
                method: #sp::Method::#method,
                path: #path,
                guard: #guard,
                handler: #handler,
            }
        }
    });
    quote! {
        #item

        const _: () = {
            #[allow(unused_variables)]
            fn __routes(__ctx: &#sp::AppContext) -> ::core::result::Result<::std::vec::Vec<#sp::RouteDef>, #sp::BuildError> {
                #instance
                ::core::result::Result::Ok(::std::vec![#(#defs),*])
            }

            #sp::inventory::submit! {
                #sp::ControllerRegistration {
                    name: #name,
                    base_path: #base,
                    routes: __routes,
                }
            }
        };
    }
}

fn self_ty_span(m: &Model) -> proc_macro2::Span {
    syn::spanned::Spanned::span(&m.self_ty)
}
