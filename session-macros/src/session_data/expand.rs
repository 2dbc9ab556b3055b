//! Code generation for `#[session_data]`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use super::bounds;
use super::model::{FieldDefault, FieldModel, Model};
use crate::runtime::private_path;
use crate::self_type::replace_self;

pub(super) fn generate(m: &Model) -> TokenStream {
    let sp = private_path(m.krate.as_ref());
    let core = quote!(#sp::session_core);
    let item = &m.item;
    let name = &item.ident;
    let vis = &item.vis;
    let tracked = format_ident!("{}Tracked", name);

    let names: Vec<&str> = m.stored().map(|(_, _, n)| n).collect();
    let encode_arms = m.stored().map(|(i, f, stored)| {
        let ident = &f.ident;
        match &f.serialize_with {
            Some(path) => {
                // The call on the attribute's string, where a function of the
                // wrong type is reported; its arguments, made apart, keep the
                // macro's hygiene (the string may come from another macro).
                let (value, ser) = (quote!(&self.#ident), quote!(__ser));
                let call = quote_spanned!(path.span()=> #path(#value, #ser));
                quote! { #i => #core::data::encode_with(#stored, |__ser| #call), }
            }
            None => quote! { #i => #core::data::encode_value(#stored, &self.#ident), },
        }
    });
    // A field with its own serializer cannot be walked for NaN (the function
    // may take serde_json's serializer alone): what it wrote must decode as
    // the next request will decode it, checked only when it is written.
    let written_arms = m
        .stored()
        .filter(|(_, f, _)| f.serialize_with.is_some())
        .map(|(i, f, stored)| {
            let ty = &f.ty;
            let decode = match &f.deserialize_with {
                Some(de) => quote!(#core::data::decode_with(#stored, __raw, |__de| #de(__de))),
                None => quote!(#core::data::decode_raw::<#ty>(#stored, __raw)),
            };
            quote! {
                #i => #core::data::check_reads_back(#stored, __json, |__raw| {
                    let _: #ty = #decode?;
                    ::core::result::Result::Ok(())
                }),
            }
        });
    let alias_arms = m
        .stored()
        .filter(|(_, f, _)| !f.aliases.is_empty())
        .map(|(i, f, _)| {
            let aliases = &f.aliases;
            quote!(#i => &[#(#aliases),*],)
        });
    // Fields with their own (de)serialiser are compared as bytes: their
    // type's `Deserialize` does not read what is stored.
    let compare_arms = m
        .stored()
        .filter(|(_, f, _)| f.serialize_with.is_none() && f.deserialize_with.is_none())
        .map(|(i, f, _)| {
            let ident = &f.ident;
            let ty = &f.ty;
            quote! {
                #i => (&&#core::data::FieldCompare::<#ty>::new()).matches_stored_field(&self.#ident, __stored),
            }
        });
    let decode_steps = m.stored().map(|(_, f, stored)| {
        let ident = &f.ident;
        let ty = &f.ty;
        let aliases = &f.aliases;
        let decode = match &f.deserialize_with {
            Some(path) => {
                // As for `serialize_with`: `__de` made apart keeps its hygiene.
                let de = quote!(__de);
                let call = quote_spanned!(path.span()=> #path(#de));
                quote!(#core::data::decode_with(#stored, __raw, |__de| #call)?)
            }
            None => quote!(#core::data::decode_raw::<#ty>(#stored, __raw)?),
        };
        let missing = default_value(f).map(|value| quote!(else { __data.#ident = #value; }));
        quote! {
            if let ::core::option::Option::Some(__raw) = __fields.get(#stored) #(.or_else(|| __fields.get(#aliases)))* {
                __data.#ident = #decode;
            } #missing
        }
    });
    // Skipped fields are not stored, but serde still applies their
    // `#[serde(default = ..)]` / `#[serde(default)]` on decode.
    let skipped_defaults = m.fields.iter().filter(|f| f.stored.is_none()).map(|f| {
        let ident = &f.ident;
        default_value(f).map(|value| quote!(__data.#ident = #value;))
    });
    let validate = m.validate.as_ref().map(|path| {
        quote_spanned! {path.span()=>
            fn validate(&self) -> ::core::result::Result<(), #core::SessionDataError> {
                #core::data::ValidationOutcome::into_validation(#path(self))
            }
        }
    });
    let group_id = m.group_id.as_ref().map(|field| {
        quote_spanned! {field.span()=>
            fn group_id(&self) -> ::core::option::Option<::std::string::String> {
                #core::data::GroupIdSource::group_id(&self.#field)
            }
        }
    });
    let authenticated = m.authenticated.as_ref().map(|field| {
        quote_spanned! {field.span()=>
            fn is_authenticated(&self) -> ::core::primitive::bool {
                #core::data::AuthenticatedSource::is_authenticated(&self.#field)
            }
        }
    });

    // Every accessor, named where the view is made (`from_tracked`): the
    // app may call none of them (a private struct's, in a binary), and
    // `dead_code` is not the app's to silence, nor allowed where the crate
    // forbids it. Their reads of the fields count so.
    let accessor_uses = m.fields.iter().map(|f| {
        let ident = &f.ident;
        let getter = quote!(let _ = Self::#ident;);
        if f.stored.is_none() {
            return getter;
        }
        let ty = &replace_self(&f.ty, &syn::parse_quote!(#name));
        let set = format_ident!("set_{}", ident.to_string().trim_start_matches("r#"));
        let update = format_ident!("update_{}", ident.to_string().trim_start_matches("r#"));
        quote! {
            #getter
            let _ = Self::#set;
            let _ = Self::#update::<(), fn(&mut #ty)>;
        }
    });
    let accessors = m.fields.iter().map(|f| {
        let ident = &f.ident;
        // The accessors live on the tracked type, where `Self` means that.
        let ty = &replace_self(&f.ty, &syn::parse_quote!(#name));
        let fvis = &f.vis;
        let deprecated = &f.deprecated;
        let getter_doc = format!("The `{ident}` field.");
        let getter = quote! {
            #[doc = #getter_doc]
            #(#deprecated)*
            #fvis fn #ident(&self) -> &#ty {
                &self.0.get().#ident
            }
        };
        let Some(index) = m
            .stored()
            .find(|(_, g, _)| g.ident == f.ident)
            .map(|(i, _, _)| i)
        else {
            return getter;
        };
        let set = format_ident!("set_{}", ident.to_string().trim_start_matches("r#"));
        let update = format_ident!("update_{}", ident.to_string().trim_start_matches("r#"));
        let set_doc = format!(
            "Sets `{ident}`; persisted only if the encoded value differs from the stored one."
        );
        let update_doc =
            format!("Applies `f` to `{ident}` (marking it for a value comparison at persist).");
        quote! {
            #getter
            #[doc = #set_doc]
            #(#deprecated)*
            #fvis fn #set(&mut self, value: #ty) {
                self.0.set(#index, |__d| &mut __d.#ident, value)
            }
            #[doc = #update_doc]
            #(#deprecated)*
            #fvis fn #update<__R, __F: ::core::ops::FnOnce(&mut #ty) -> __R>(&mut self, f: __F) -> __R {
                self.0.update(#index, |__d| &mut __d.#ident, f)
            }
        }
    });
    // Spanned on the struct's name so that a missing `Default` points at it;
    // the local itself is named at the call site, like its uses.
    let default = quote_spanned!(name.span()=> <Self as ::core::default::Default>::default());
    let new_data = quote!(let mut __data: Self = #default;);
    let checks = bounds::checks(m, &sp);
    let bounds = bounds::where_clause(m, &sp);
    // Only where something is deprecated: a crate may forbid the lint.
    let allow_deprecated = m.allowance().attribute();
    let tracked_doc = format!(
        "Change-tracking view of [`{name}`] that `Session<{name}>` dereferences to (generated by `#[session_data]`)."
    );

    quote! {
        #item

        // The generated code's uses of a deprecated struct or field are not
        // the app's: its own calls of the accessors still warn. No other
        // `allow`: a crate may forbid the lints (see `bounds` for the
        // `for<'__f>` clauses, `from_tracked` for `dead_code`).
        #[doc = #tracked_doc]
        #allow_deprecated
        #vis struct #tracked(#core::Tracked<#name>);

        #allow_deprecated
        impl #tracked #bounds {
            #(#accessors)*
        }

        #allow_deprecated
        const _: () = {
            #checks

            impl #core::SessionData for #name #bounds {
                type Tracked = #tracked;
                const FIELDS: &'static [&'static ::core::primitive::str] = &[#(#names),*];

                fn encode_field(&self, index: ::core::primitive::usize) -> ::core::result::Result<#core::FieldValue, #core::SessionDataError> {
                    match index {
                        #(#encode_arms)*
                        _ => ::core::result::Result::Err(#core::SessionDataError::UnknownField(index)),
                    }
                }

                // Skipped fields' defaults are assigned after `Default::default()`.
                #[allow(clippy::field_reassign_with_default)]
                fn decode(__fields: &#core::FieldMap) -> ::core::result::Result<Self, #core::SessionDataError> {
                    #new_data
                    #(#decode_steps)*
                    #(#skipped_defaults)*
                    ::core::result::Result::Ok(__data)
                }

                fn check_written(index: ::core::primitive::usize, __json: &::core::primitive::str) -> ::core::result::Result<(), #core::SessionDataError> {
                    match index {
                        #(#written_arms)*
                        _ => ::core::result::Result::Ok(()),
                    }
                }

                fn aliases(index: ::core::primitive::usize) -> &'static [&'static ::core::primitive::str] {
                    match index {
                        #(#alias_arms)*
                        _ => &[],
                    }
                }

                #[allow(clippy::needless_borrow)] // The borrows pick the comparison.
                fn same_as_stored(&self, index: ::core::primitive::usize, __stored: &::core::primitive::str) -> ::core::option::Option<::core::primitive::bool> {
                    // One of the two may go unused: at the macro's call
                    // site, `unused_imports` leaves it to the macro.
                    use #core::data::{CompareByValue as _, CompareUnknown as _};
                    match index {
                        #(#compare_arms)*
                        _ => ::core::option::Option::None,
                    }
                }

                #validate
                #group_id
                #authenticated
            }

            impl ::core::ops::Deref for #tracked #bounds {
                type Target = #name;
                fn deref(&self) -> &#name {
                    self.0.get()
                }
            }

            impl ::core::ops::DerefMut for #tracked #bounds {
                fn deref_mut(&mut self) -> &mut #name {
                    &mut self.0
                }
            }

            impl #core::TrackedData for #tracked #bounds {
                type Data = #name;
                fn from_tracked(tracked: #core::Tracked<#name>) -> Self {
                    #(#accessor_uses)*
                    Self(tracked)
                }
                fn as_tracked(&self) -> &#core::Tracked<#name> {
                    &self.0
                }
                fn as_tracked_mut(&mut self) -> &mut #core::Tracked<#name> {
                    &mut self.0
                }
            }
        };
    }
}

/// A field's `#[serde(default)]` value, when it has its own: spanned on the
/// field's type or on the attribute's function, where a type without
/// `Default` or a function of the wrong type is reported.
fn default_value(f: &FieldModel) -> Option<TokenStream> {
    match &f.default {
        FieldDefault::Struct => None,
        FieldDefault::Type => {
            let ty = &f.ty;
            Some(quote_spanned!(ty.span()=> <#ty as ::core::default::Default>::default()))
        }
        FieldDefault::Path(path) => Some(quote_spanned!(path.span()=> #path())),
    }
}
