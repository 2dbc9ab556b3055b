use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use super::model::Model;
use crate::runtime::private_path;

pub(super) fn generate(m: &Model) -> TokenStream {
    let sp = private_path(m.krate.as_ref());
    let item = &m.item;
    let ty = &m.ty;
    // Spanned on the user's type, so "`X` is not an interceptor" points at `X`.
    let refs = |types: &[syn::Type]| {
        let refs = types
            .iter()
            .map(|t| quote_spanned!(t.span()=> #sp::InterceptorRef::of::<#t>()));
        quote!(&[#(#refs),*])
    };
    let depends_on = refs(&m.depends_on);
    let runs_before = refs(&m.runs_before);
    // Locals are named at the call site: spanned on the user's type, they
    // would not resolve when that type comes from another macro.
    let ctx = format_ident!("__ctx");
    let value = if m.from_app {
        quote_spanned!(ty.span()=> <#ty as #sp::FromApp>::from_app(#ctx)?)
    } else {
        quote_spanned!(ty.span()=> <#ty as ::core::default::Default>::default())
    };
    let build = quote_spanned!(ty.span()=> #sp::shared_interceptor::<#ty>(#value));
    let this = quote_spanned!(ty.span()=> #sp::own_interceptor_ref::<#ty>());
    // Unregistered, the interceptor is named by the apps that run it.
    // One attribute per type: a second registered one conflicts with the
    // first's marker impl, on the second attribute, and a registered one
    // with an unregistered one's `UnregisteredInterceptor` (which implies
    // the marker); two unregistered ones conflict on that trait itself.
    let register = match m.unregistered {
        None => quote_spanned! {Span::call_site()=>
            impl #sp::OneInterceptorAttribute for #ty {}
            #sp::inventory::submit! { __REGISTRATION }
        },
        Some(span) => quote_spanned! {span=>
            impl #sp::UnregisteredInterceptor for #ty {
                const REGISTRATION: &'static #sp::InterceptorRegistration = &__REGISTRATION;
            }
        },
    };
    // Registering a deprecated interceptor is not a use of it; allowed
    // only then, as a crate may forbid the lint.
    let allow_deprecated = m.allowance().attribute();
    quote! {
        #item

        #allow_deprecated
        const _: () = {
            // `__ctx` starts with `_`: no `allow`, which a crate forbidding
            // the lint would refuse.
            fn __build(#ctx: &#sp::AppContext) -> ::core::result::Result<::std::sync::Arc<dyn #sp::Interceptor>, #sp::BuildError> {
                ::core::result::Result::Ok(#build)
            }

            const __REGISTRATION: #sp::InterceptorRegistration = #sp::InterceptorRegistration {
                interceptor: #this,
                depends_on: #depends_on,
                runs_before: #runs_before,
                builtin: false,
                build: __build,
            };

            #register
        };
    }
}
