//! Code generation for `#[controller]`: the impl block as written (route and
//! guard attributes removed) plus a registration in the app's registry.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};

use super::guard::GuardSpec;
use super::model::{Model, Route};
use crate::runtime::private_path;
use crate::self_type::replace_self;

fn guard_tokens(sp: &TokenStream, guard: &GuardSpec) -> TokenStream {
    match guard {
        GuardSpec::Open => quote!(#sp::Guard::OPEN),
        GuardSpec::Authenticated(required) => {
            let perms = &required.permissions;
            let guard = quote!(#sp::Guard::permissions(&[#(#perms),*]));
            match required.recent_login_secs {
                Some(secs) => {
                    quote!(#guard.recent_login(::core::time::Duration::from_secs(#secs)))
                }
                None => guard,
            }
        }
    }
}

/// The shared controller and the app context, named at the call site: spanned
/// on user tokens they would not resolve when those come from another macro.
fn locals() -> (syn::Ident, syn::Ident) {
    (format_ident!("__this"), format_ident!("__ctx"))
}

/// A closure's parameters standing for the route's arguments: names, types
/// (`Self` replaced: the closure is outside the `impl`), and `#[cfg]`s. A
/// `#[cfg]` on a parameter goes on the closure's parameter and on the
/// call's argument alike (both take it on stable Rust).
fn closure_params<'m>(
    m: &Model,
    route: &'m Route,
) -> (
    Vec<syn::Ident>,
    Vec<syn::Type>,
    Vec<&'m Vec<syn::Attribute>>,
) {
    let args = (0..route.args.len())
        .map(|i| format_ident!("__arg{}", i))
        .collect();
    let types = route
        .args
        .iter()
        .map(|a| replace_self(&a.ty, &m.self_ty))
        .collect();
    let cfgs = route.args.iter().map(|a| &a.cfgs).collect();
    (args, types, cfgs)
}

fn handler(sp: &TokenStream, m: &Model, route: &Route) -> TokenStream {
    let self_ty = &m.self_ty;
    let (this, _) = locals();
    let ident = &route.ident;
    let filter = format_ident!(
        "{}",
        route.attr.method.to_string().to_uppercase(),
        span = route.attr.method.span()
    );
    let (args, _, cfgs) = closure_params(m, route);
    let types = checked_types(sp, m, route);
    // Called as `<T>::method(&*this, ..)`: a route named like a method of
    // `Arc` (`clone`, say) must still reach the controller's.
    let receiver = route.takes_self.then(|| quote!(&*#this,));
    // Awaited and converted in an async block, with `&self` or without, so
    // that a future that is not `Send` is the one error `future_check`
    // reports and an output that is no response the one error on this
    // conversion, neither followed by "not a handler". With `&self`, an
    // `impl IntoResponse` output captures the borrow of `#this`, which ends
    // in that block.
    let call = quote_spanned!(ident.span()=>
        #sp::axum::response::IntoResponse::into_response(<#self_ty>::#ident(#receiver #(#(#cfgs)* #args),*).await));
    // Spanned on the method: a bad handler is reported there, not on
    // `#[controller]`.
    if !route.takes_self {
        return quote_spanned!(ident.span()=>
            #sp::route_handler(#sp::axum::routing::MethodFilter::#filter, |#(#(#cfgs)* #args: #types),*| async move { #call }));
    }
    let routing = quote_spanned!(ident.span()=>
    #sp::route_handler(#sp::axum::routing::MethodFilter::#filter, move |#(#(#cfgs)* #args: #types),*| {
        let #this = <::std::sync::Arc<_> as ::core::clone::Clone>::clone(&#this);
        async move { #call }
    }));
    quote! {
        {
            let #this = <::std::sync::Arc<_> as ::core::clone::Clone>::clone(&#this);
            #routing
        }
    }
}

/// Whether an argument is followed, in every build, by another (one
/// without a `#[cfg]`): it must then read no body.
fn followed(route: &Route, i: usize) -> bool {
    route.args[i + 1..]
        .iter()
        .any(|later| later.cfgs.is_empty())
}

/// What an argument must be: `Some(true)` a parts extractor (another
/// follows it), `Some(false)` an extractor of either kind (the last, when
/// no `#[cfg]` can drop it: a body extractor is expected there, so no
/// narrower bound is safe), `None` unchecked (a `#[cfg]` may make it the
/// last or not; `impl Trait` is an error of its own).
fn requirement(route: &Route, i: usize) -> Option<bool> {
    let arg = &route.args[i];
    if matches!(arg.ty, syn::Type::ImplTrait(_)) {
        None
    } else if followed(route, i) {
        Some(true)
    } else if i + 1 == route.args.len() && arg.cfgs.is_empty() {
        Some(false)
    } else {
        None
    }
}

/// The handler's parameter types, each checked where it can be: spanned
/// on the argument's type, `<[(); <T as PartsExtractor>::CHECK] as
/// Checked<T>>::Type` (or `RequestExtractor<_>` for the last) is `T`, or
/// where `T` is not such an extractor, one error on `T` that says what it
/// must be and a type rustc knows to be wrong, so the handler adds no
/// "not a handler" on the method.
fn checked_types(sp: &TokenStream, m: &Model, route: &Route) -> Vec<TokenStream> {
    (0..route.args.len())
        .map(|i| {
            let ty = replace_self(&route.args[i].ty, &m.self_ty);
            let span = syn::spanned::Spanned::span(&ty);
            let check = match requirement(route, i) {
                None => return quote!(#ty),
                Some(true) => quote_spanned!(span=> <#ty as #sp::PartsExtractor>::CHECK),
                Some(false) => quote_spanned!(span=> <#ty as #sp::RequestExtractor<_>>::CHECK),
            };
            quote_spanned!(span=> <[(); #check] as #sp::Checked<#ty>>::Type)
        })
        .collect()
}

/// A closure never called that calls the route and asks its future to be
/// `Send`: where it is not, rustc says so on the method and names what is
/// held across an `.await` (axum's `Handler` error would only say the
/// route is no handler; [`handler`]'s conversion of the output is the
/// check of that). Its parameters are the
/// route's arguments, with their own types, so no code is
/// unreachable (a crate may forbid `unreachable_code`). Routes taking
/// `impl Trait` are no handlers anyway.
fn future_check(sp: &TokenStream, m: &Model, route: &Route) -> TokenStream {
    if route
        .args
        .iter()
        .any(|a| matches!(a.ty, syn::Type::ImplTrait(_)))
    {
        return TokenStream::new();
    }
    let self_ty = &m.self_ty;
    let ident = &route.ident;
    let (this, _) = locals();
    let (args, types, cfgs) = closure_params(m, route);
    // The array on the method, where an error on the future belongs; its
    // length on the type, as in `shared_self_ty`, so that a controller that
    // is not `Send + Sync` is the same error, reported once.
    let (receiver, this_arg, shared) = if route.takes_self {
        let check = quote_spanned!(self_ty_span(m)=> <#self_ty as #sp::SharedController>::CHECK);
        let shared = quote_spanned!(ident.span()=> [(); #check]);
        (quote!(#this: &#self_ty,), quote!(#this,), shared)
    } else {
        (quote!(), quote!(), quote_spanned!(ident.span()=> [(); 0]))
    };
    let check = quote_spanned!(ident.span()=>
        #sp::route_future::<_, #shared>(<#self_ty>::#ident(#this_arg #(#(#cfgs)* #args),*)));
    let route_cfgs = &route.cfgs;
    quote! {
        #(#route_cfgs)*
        let _ = |#receiver #(#(#cfgs)* #args: #types),*| #check;
    }
}

pub(super) fn generate(m: &Model) -> TokenStream {
    let sp = private_path(m.krate.as_ref());
    let item = &m.item;
    let self_ty = &m.self_ty;
    let name = &m.name;
    let base = &m.base;
    let (this, ctx) = locals();
    let instance = if !m.routes.iter().any(|r| r.takes_self) {
        quote!()
    } else {
        let value = if m.from_app {
            quote_spanned!(self_ty_span(m)=> <#self_ty as #sp::FromApp>::from_app(#ctx)?)
        } else {
            quote_spanned!(self_ty_span(m)=> <#self_ty as ::core::default::Default>::default())
        };
        let shared = shared_self_ty(&sp, m);
        quote!(let #this: ::std::sync::Arc<#shared> = ::std::sync::Arc::new(#value);)
    };
    let defs = m.routes.iter().map(|route| {
        let method = route.attr.method.to_string().to_uppercase();
        let method = format_ident!("{}", method);
        let path = &route.attr.path;
        let guard = guard_tokens(&sp, &m.guard.for_route(route.guard.as_ref()));
        let handler = handler(&sp, m, route);
        let cfgs = &route.cfgs;
        quote! {
            #(#cfgs)*
            {
                __defs.push(#sp::RouteDef {
                    method: #sp::Method::#method,
                    path: #path,
                    guard: #guard,
                    handler: #handler,
                });
            }
        }
    });
    let future_checks = m.routes.iter().map(|route| future_check(&sp, m, route));
    // Unregistered, the controller is named by the apps that serve it.
    let register = match m.unregistered {
        None => quote!(#sp::inventory::submit! { __REGISTRATION }),
        Some(span) => quote_spanned! {span=>
            impl #sp::Controller for #self_ty {
                const REGISTRATION: &'static #sp::ControllerRegistration = &__REGISTRATION;
            }
        },
    };
    // Registering a deprecated route is not a use of it; allowed only
    // then, as a crate may forbid the lint.
    let allow_deprecated = m.allowance.attribute();
    quote! {
        #item

        #allow_deprecated
        const _: () = {
            fn __futures() {
                #(#future_checks)*
            }

            // No `allow` here: a crate may forbid the lints it would
            // silence. `__ctx` and `__this` start with `_`, and `__defs` is
            // borrowed mutably below even when every route is cfg'd out.
            fn __routes(#ctx: &#sp::AppContext) -> ::core::result::Result<::std::vec::Vec<#sp::RouteDef>, #sp::BuildError> {
                #instance
                let mut __defs = ::std::vec::Vec::new();
                #(#defs)*
                ::core::result::Result::Ok(::core::mem::take(&mut __defs))
            }

            const __REGISTRATION: #sp::ControllerRegistration = #sp::ControllerRegistration {
                // Module-qualified: two controllers of one name in
                // two modules are told apart in build errors.
                name: ::core::concat!(::core::module_path!(), "::", #name),
                base_path: #base,
                routes: __routes,
            };

            #register
        };
    }
}

/// The controller's type as its `&self` routes share it, spanned on the
/// type: `<[(); <T as SharedController>::CHECK] as Checked<T>>::Type` is
/// `T`, or where `T` is not `Send + Sync`, one error on `T` saying so and a
/// type rustc knows to be wrong, so that no route adds "not a handler"
/// ([`future_check`] skips the futures holding `&T` likewise).
fn shared_self_ty(sp: &TokenStream, m: &Model) -> TokenStream {
    let self_ty = &m.self_ty;
    quote_spanned!(self_ty_span(m)=>
        <[(); <#self_ty as #sp::SharedController>::CHECK] as #sp::Checked<#self_ty>>::Type)
}

fn self_ty_span(m: &Model) -> proc_macro2::Span {
    syn::spanned::Spanned::span(&m.self_ty)
}
