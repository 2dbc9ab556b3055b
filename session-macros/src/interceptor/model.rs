use proc_macro2::{Span, TokenStream};
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Item, Path, Token, Type};

use crate::ctxt::Errors;

const KEYS: &str = "depends_on, runs_before, from_app, registry, crate";

pub(super) struct Model {
    pub(super) item: Item,
    pub(super) ty: Type,
    pub(super) depends_on: Vec<Type>,
    pub(super) runs_before: Vec<Type>,
    pub(super) from_app: bool,
    pub(super) krate: Option<Path>,
    /// `registry = false`: where it was written, for the
    /// `UnregisteredInterceptor` impl that replaces the registration.
    pub(super) unregistered: Option<Span>,
}

fn type_list(meta: &ParseNestedMeta, key: &str) -> syn::Result<Vec<Type>> {
    let value = meta.value()?;
    if !value.peek(syn::token::Bracket) {
        let message = match value.fork().parse::<Type>() {
            Ok(ty) => format!(
                "`{key}` takes a list of types: write `{key} = [{}]`",
                type_text(&ty)
            ),
            Err(_) => format!("`{key}` takes a list of types, like `{key} = [AuthInterceptor]`"),
        };
        return Err(value.error(message));
    }
    let content;
    syn::bracketed!(content in value);
    let mut types = Vec::new();
    while !content.is_empty() {
        if content.peek(syn::LitStr) {
            let lit: syn::LitStr = content.parse()?;
            return Err(syn::Error::new(
                lit.span(),
                format!("`{key}` takes types, not strings: write `{}`", lit.value()),
            ));
        }
        types.push(content.parse::<Type>()?);
        if content.is_empty() {
            break;
        }
        content.parse::<Token![,]>()?;
    }
    Ok(types)
}

/// `registry = true` (the default) or `registry = false`; anything else is
/// an error on the value.
fn registry(meta: &ParseNestedMeta) -> syn::Result<bool> {
    let value = meta.value()?;
    let value = value.parse::<syn::LitBool>().map_err(|e| {
        syn::Error::new(
            e.span(),
            "expected `registry = false` (run only by apps given it with `add_interceptor`) or `registry = true`",
        )
    })?;
    Ok(value.value)
}

/// A type as the user would write it (`a::B<C>`, not `a :: B < C >`).
fn type_text(ty: &Type) -> String {
    let text = quote::ToTokens::to_token_stream(ty).to_string();
    [
        (" :: ", "::"),
        (":: ", "::"),
        (" <", "<"),
        ("< ", "<"),
        (" >", ">"),
        (" ,", ","),
    ]
    .iter()
    .fold(text, |t, (from, to)| t.replace(from, to))
}

/// `#[async_trait]` must still expand on an `impl Interceptor` block that
/// has `async fn`s: without it rustc reports only mismatched lifetimes.
fn check_async_trait(imp: &syn::ItemImpl, errors: &mut Errors) {
    let expands = imp
        .attrs
        .iter()
        .any(|a| crate::ctxt::attr_is(a, "async_trait"));
    if expands {
        return;
    }
    for item in &imp.items {
        if let syn::ImplItem::Fn(f) = item
            && let Some(asyncness) = f.sig.asyncness
        {
            errors.error(
                asyncness,
                "`Interceptor` is an `#[async_trait]` trait: add `#[async_trait]` to this `impl` block, below `#[interceptor]`",
            );
        }
    }
}

/// The item as emitted beside the errors: an `impl` block missing
/// `#[async_trait]` gets it, so that the error asking for it is the only
/// one (rustc would add that the method's lifetimes do not match the
/// trait's).
pub(super) fn item_for_errors(args: &TokenStream, item: TokenStream) -> TokenStream {
    let Ok(Item::Impl(mut imp)) = syn::parse2::<Item>(item.clone()) else {
        return item;
    };
    if !missing_async_trait(&imp) {
        return item;
    }
    // `crate = path` read leniently: the arguments may hold the errors.
    let mut krate: Option<Path> = None;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("crate") {
            krate = Some(meta.value()?.parse()?);
        } else if meta.input.peek(Token![=]) {
            meta.value()?.parse::<syn::Expr>()?;
        }
        Ok(())
    });
    let _ = syn::parse::Parser::parse2(parser, args.clone());
    let sp = crate::runtime::private_path(krate.as_ref());
    imp.attrs.push(syn::parse_quote!(#[#sp::async_trait]));
    quote::ToTokens::into_token_stream(imp)
}

/// Whether an `impl` block has `async fn`s and no `#[async_trait]`.
fn missing_async_trait(imp: &syn::ItemImpl) -> bool {
    let expands = imp
        .attrs
        .iter()
        .any(|a| crate::ctxt::attr_is(a, "async_trait"));
    !expands
        && imp
            .items
            .iter()
            .any(|item| matches!(item, syn::ImplItem::Fn(f) if f.sig.asyncness.is_some()))
}

/// Whether `dep` names the interceptor itself (`Self` or its own spelling).
fn is_itself(dep: &Type, ty: &Type) -> bool {
    use quote::ToTokens;
    let self_ty: Type = syn::parse_quote!(Self);
    let text = dep.to_token_stream().to_string();
    text == ty.to_token_stream().to_string() || text == self_ty.to_token_stream().to_string()
}

impl Model {
    pub(super) fn parse(args: TokenStream, item: TokenStream) -> syn::Result<Model> {
        let mut errors = Errors::default();
        let mut depends_on: Option<Vec<Type>> = None;
        let mut runs_before: Option<Vec<Type>> = None;
        let mut from_app = false;
        let mut krate: Option<Path> = None;
        // Its value and where the key was written.
        let mut registered: Option<(bool, Span)> = None;
        let parser = syn::meta::parser(|meta| {
            let key = meta
                .path
                .get_ident()
                .map(ToString::to_string)
                .unwrap_or_default();
            let duplicate = || meta.error(format!("duplicate key `{key}`"));
            match key.as_str() {
                "depends_on" if depends_on.is_some() => Err(duplicate()),
                "depends_on" => {
                    depends_on = Some(type_list(&meta, "depends_on")?);
                    Ok(())
                }
                "runs_before" if runs_before.is_some() => Err(duplicate()),
                "runs_before" => {
                    runs_before = Some(type_list(&meta, "runs_before")?);
                    Ok(())
                }
                "from_app" if from_app => Err(duplicate()),
                "from_app" => {
                    from_app = true;
                    Ok(())
                }
                "registry" if registered.is_some() => Err(duplicate()),
                "registry" => {
                    registered = Some((registry(&meta)?, meta.path.span()));
                    Ok(())
                }
                "crate" if krate.is_some() => Err(duplicate()),
                "crate" => {
                    krate = Some(meta.value()?.parse()?);
                    Ok(())
                }
                _ => Err(meta.error(format!(
                    "unknown key `{key}` in #[interceptor]; expected one of: {KEYS}"
                ))),
            }
        });
        errors.ok(syn::parse::Parser::parse2(parser, args));
        let item: Item = syn::parse2(item)?;
        let ty: Option<Type> = match &item {
            Item::Struct(s) if s.generics.params.is_empty() => {
                let ident = &s.ident;
                Some(syn::parse_quote!(#ident))
            }
            Item::Enum(e) if e.generics.params.is_empty() => {
                let ident = &e.ident;
                Some(syn::parse_quote!(#ident))
            }
            Item::Impl(imp) if imp.trait_.is_some() && imp.generics.params.is_empty() => {
                Some((*imp.self_ty).clone())
            }
            Item::Struct(s) => {
                errors.error(&s.generics, "an interceptor type cannot be generic");
                None
            }
            Item::Enum(e) => {
                errors.error(&e.generics, "an interceptor type cannot be generic");
                None
            }
            Item::Impl(imp) if imp.trait_.is_some() => {
                errors.error(&imp.generics, "an interceptor type cannot be generic");
                None
            }
            other => {
                errors.error(
                    item_keyword(other),
                    "#[interceptor] goes on the interceptor's struct (or its `impl Interceptor for ..` block)",
                );
                None
            }
        };
        if let Item::Impl(imp) = &item {
            check_async_trait(imp, &mut errors);
        }
        if let Some(ty) = &ty {
            let deps = depends_on.iter().flatten().map(|d| (d, "depend on"));
            let before = runs_before.iter().flatten().map(|d| (d, "run before"));
            for (dep, relation) in deps.chain(before) {
                if is_itself(dep, ty) {
                    errors.error(dep, format!("an interceptor cannot {relation} itself"));
                }
            }
        }
        errors.finish()?;
        let Some(ty) = ty else {
            return Err(syn::Error::new_spanned(
                &item,
                "#[interceptor] needs a type",
            ));
        };
        Ok(Model {
            item,
            ty,
            depends_on: depends_on.unwrap_or_default(),
            runs_before: runs_before.unwrap_or_default(),
            from_app,
            krate,
            unregistered: registered.and_then(|(on, span)| (!on).then_some(span)),
        })
    }

    /// The lint allowance of the generated code, from the item's attributes
    /// ([`Allowance`](crate::ctxt::Allowance)); `deprecated` where it names
    /// interceptors in `depends_on` or `runs_before`, which may be
    /// deprecated (this macro cannot tell), so a crate forbidding the lint
    /// takes interceptors without them only.
    pub(super) fn allowance(&self) -> crate::ctxt::Allowance {
        if !self.depends_on.is_empty() || !self.runs_before.is_empty() {
            return crate::ctxt::Allowance::Deprecated;
        }
        let attrs = match &self.item {
            Item::Struct(s) => &s.attrs,
            Item::Enum(e) => &e.attrs,
            Item::Impl(i) => &i.attrs,
            _ => return crate::ctxt::Allowance::None,
        };
        crate::ctxt::Allowance::of_all(attrs)
    }
}

/// The token naming what kind of item `item` is (`fn`, `impl`, `trait`..),
/// for an error about the item as a whole without underlining its body.
fn item_keyword(item: &Item) -> proc_macro2::TokenStream {
    use quote::ToTokens;
    match item {
        Item::Fn(f) => f.sig.fn_token.to_token_stream(),
        Item::Impl(i) => i.impl_token.to_token_stream(),
        Item::Trait(t) => t.trait_token.to_token_stream(),
        Item::Union(u) => u.union_token.to_token_stream(),
        Item::Mod(m) => m.mod_token.to_token_stream(),
        Item::Type(t) => t.type_token.to_token_stream(),
        Item::Const(c) => c.const_token.to_token_stream(),
        Item::Static(s) => s.static_token.to_token_stream(),
        other => other.to_token_stream(),
    }
}
