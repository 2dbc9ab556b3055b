//! The typed model of a controller: its base path, construction, guard and routes.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{FnArg, ImplItem, Item, ItemImpl, LitStr, Meta, MetaList, Path, Token, Type};

use super::cfg;
use super::guard::{self, GuardSpec};
use super::route::{self, RouteAttr};
use crate::ctxt::{Allowance, Errors};

pub(super) struct Model {
    pub(super) item: ItemImpl,
    pub(super) self_ty: Type,
    pub(super) name: String,
    pub(super) base: LitStr,
    pub(super) from_app: bool,
    pub(super) krate: Option<Path>,
    /// `registry = false`: where it was written, for the `Controller` impl
    /// that replaces the registration.
    pub(super) unregistered: Option<proc_macro2::Span>,
    pub(super) guard: GuardSpec,
    pub(super) routes: Vec<Route>,
    /// The lint allowance of the generated code, from the block's, its
    /// routes' and their arguments' attributes ([`Allowance`]).
    pub(super) allowance: Allowance,
}

pub(super) struct Route {
    pub(super) attr: RouteAttr,
    /// The method's conditions as `#[cfg]`s: the route exists when the method does.
    pub(super) cfgs: Vec<syn::Attribute>,
    pub(super) ident: syn::Ident,
    pub(super) takes_self: bool,
    pub(super) args: Vec<RouteArg>,
    pub(super) guard: Option<GuardSpec>,
}

/// A route method's argument after `&self`.
pub(super) struct RouteArg {
    /// Its type, its borrows `'static` ([`static_lifetimes`]).
    pub(super) ty: Type,
    /// Its conditions as `#[cfg]`s: the handler takes it exactly when the method does.
    pub(super) cfgs: Vec<syn::Attribute>,
}

struct Args {
    base: LitStr,
    from_app: bool,
    krate: Option<Path>,
    /// `registry = ..`: its value and where the key was written.
    registry: Option<(bool, proc_macro2::Span)>,
}

impl Parse for Args {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        if input.is_empty() {
            return Err(input.error("expected the base path, like `#[controller(\"/session\")]`"));
        }
        if !input.peek(LitStr) {
            // `path = "/x"`, as other frameworks spell it.
            let fork = input.fork();
            let named = fork.parse::<syn::Ident>().is_ok()
                && fork.parse::<Token![=]>().is_ok()
                && fork.peek(LitStr);
            let message = match named.then(|| fork.parse::<LitStr>()) {
                Some(Ok(lit)) => format!(
                    "the base path comes first and unnamed: write `#[controller({:?})]`",
                    lit.value()
                ),
                _ => "expected the base path as a string first, like `#[controller(\"/session\")]`"
                    .to_owned(),
            };
            return Err(input.error(message));
        }
        let base: LitStr = input.parse()?;
        route::check_path(&base)?;
        let mut args = Args {
            base,
            from_app: false,
            krate: None,
            registry: None,
        };
        while !input.is_empty() {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            let key: syn::Ident = input.call(syn::ext::IdentExt::parse_any)?;
            match key.to_string().as_str() {
                "from_app" if !args.from_app => args.from_app = true,
                "crate" if args.krate.is_none() => {
                    input.parse::<Token![=]>()?;
                    args.krate = Some(input.parse()?);
                }
                "registry" if args.registry.is_none() => {
                    input.parse::<Token![=]>()?;
                    let value = input.parse::<syn::LitBool>().map_err(|e| {
                        syn::Error::new(
                            e.span(),
                            "expected `registry = false` (served only by apps given it with `add_controller`) or `registry = true`",
                        )
                    })?;
                    args.registry = Some((value.value, key.span()));
                }
                "from_app" | "crate" | "registry" => {
                    return Err(syn::Error::new(
                        key.span(),
                        format!("duplicate key `{key}`"),
                    ));
                }
                other => {
                    return Err(syn::Error::new(
                        key.span(),
                        format!(
                            "unknown key `{other}` in #[controller]; expected one of: from_app, crate, registry"
                        ),
                    ));
                }
            }
        }
        Ok(args)
    }
}

impl Model {
    pub(super) fn parse(args: TokenStream, item: TokenStream) -> syn::Result<Model> {
        let mut errors = Errors::default();
        // A mistake in the arguments still lets the routes be checked.
        let args = errors
            .ok(syn::parse2::<Args>(args))
            .unwrap_or_else(|| Args {
                base: LitStr::new("/", proc_macro2::Span::call_site()),
                from_app: false,
                krate: None,
                registry: None,
            });
        let base_path = args.base.value();
        let mut item = match syn::parse2::<Item>(item)? {
            Item::Impl(imp) => imp,
            other => {
                return Err(syn::Error::new(
                    item_keyword_span(&other),
                    "#[controller] goes on an inherent `impl` block holding the route methods",
                ));
            }
        };
        if let Some((_, trait_path, _)) = &item.trait_ {
            errors.error(
                trait_path,
                "#[controller] goes on an inherent `impl` block, not a trait impl",
            );
        }
        if !item.generics.params.is_empty() {
            errors.error(&item.generics, "a controller cannot be generic");
        }
        let name = match ungroup(&item.self_ty) {
            Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
            _ => None,
        };
        let Some(name) = name else {
            return Err(syn::Error::new_spanned(
                &item.self_ty,
                "a controller is a named type",
            ));
        };

        let mut guard = GuardSpec::Open;
        let mut guard_seen = false;
        item.attrs.retain(|attr| {
            if !guard::is_guard(attr) {
                return true;
            }
            if guard_seen {
                errors.error(
                    attr,
                    "only one #[authenticated] or #[unauthenticated] per controller",
                );
            }
            guard_seen = true;
            if let Some(spec) = errors.ok(guard::parse(attr)) {
                guard = spec;
            }
            false
        });

        let mut routes: Vec<Route> = Vec::new();
        let mut route_attrs = 0usize;
        let mut allowance = Allowance::of_all(&item.attrs);
        for impl_item in item.items.iter_mut() {
            let ImplItem::Fn(method) = impl_item else {
                if let Some(attrs) = non_method_attrs(impl_item) {
                    attrs.retain(|attr| {
                        let helper = route::is_route(attr) || guard::is_guard(attr);
                        if route::is_route(attr) {
                            // Not also "this controller has no routes".
                            route_attrs += 1;
                        }
                        if helper {
                            errors.error(
                                attr,
                                format!(
                                    "`#[{}]` goes on an `async fn` method of the controller, not on this item",
                                    helper_name(attr.path())
                                ),
                            );
                        }
                        !helper
                    });
                }
                continue;
            };
            let mut route_attr: Option<RouteAttr> = None;
            let mut method_guard: Option<GuardSpec> = None;
            let mut guard_attr: Option<syn::Attribute> = None;
            let mut failed = false;
            method.attrs.retain(|attr| {
                for inner in conditional_helpers(attr) {
                    if route::METHODS.iter().any(|m| helper_is(inner.path(), m)) {
                        // Not also "this controller has no routes".
                        route_attrs += 1;
                    }
                    errors.error(
                        &inner,
                        format!(
                            "`#[{}]` inside `cfg_attr` is not supported in a controller: put `#[cfg(..)]` on the method instead",
                            helper_name(inner.path())
                        ),
                    );
                    failed = true;
                }
                if route::is_route(attr) {
                    route_attrs += 1;
                    if route_attr.is_some() {
                        errors.error(attr, "a method can carry only one route attribute");
                        failed = true;
                    } else {
                        match route::parse(attr) {
                            Ok(r) => route_attr = Some(r),
                            Err(e) => {
                                errors.push(e);
                                failed = true;
                            }
                        }
                    }
                    return false;
                }
                if guard::is_guard(attr) {
                    if guard_attr.is_some() {
                        errors.error(
                            attr,
                            "only one #[authenticated] or #[unauthenticated] per method",
                        );
                    }
                    guard_attr = Some(attr.clone());
                    if let Some(spec) = errors.ok(guard::parse(attr)) {
                        method_guard = Some(spec);
                    }
                    return false;
                }
                true
            });
            let Some(attr) = route_attr else {
                if let Some(attr) = guard_attr.filter(|_| !failed) {
                    errors.error(attr, "this method is not a route: add `#[get(\"/path\")]` (or post, put, patch, delete)");
                }
                continue;
            };
            let sig = &method.sig;
            allowance = allowance.max(Allowance::of_all(&method.attrs));
            for input in &sig.inputs {
                let attrs = match input {
                    FnArg::Receiver(r) => &r.attrs,
                    FnArg::Typed(pat) => &pat.attrs,
                };
                allowance = allowance.max(Allowance::of_all(attrs));
            }
            if sig.asyncness.is_none() {
                errors.error(sig.fn_token, "route methods must be `async fn`");
            }
            // Lifetimes are inferred at the call; types and consts would
            // have to be named.
            if let Some(param) = sig
                .generics
                .params
                .iter()
                .find(|p| !matches!(p, syn::GenericParam::Lifetime(_)))
            {
                errors.error(
                    param,
                    "route methods cannot be generic over types or consts",
                );
            }
            let mut takes_self = false;
            let mut args = Vec::new();
            for input in &sig.inputs {
                match input {
                    FnArg::Receiver(receiver) => {
                        // `&self`, or spelled out as `self: &Self`.
                        let reference = match (&receiver.reference, receiver.colon_token) {
                            (Some(_), _) => Some(receiver.mutability),
                            (None, Some(_)) => match &*receiver.ty {
                                Type::Reference(r) if is_self(&r.elem) => Some(r.mutability),
                                _ => None,
                            },
                            (None, None) => None,
                        };
                        match reference {
                            None => errors.error(receiver, "route methods take `&self` (the controller is shared between requests), not `self`"),
                            Some(Some(m)) => errors.error(m, "route methods take `&self`, not `&mut self`: the controller is shared between requests"),
                            Some(None) => {}
                        }
                        takes_self = true;
                    }
                    FnArg::Typed(pat) => {
                        if let Type::ImplTrait(t) = &*pat.ty {
                            errors.error(
                                t,
                                "route arguments must be named extractor types, not `impl Trait`",
                            );
                        }
                        if let Some(state) = router_state(&pat.ty) {
                            errors.error(state, STATE_HELP);
                        }
                        args.push(RouteArg {
                            ty: static_lifetimes(&pat.ty, &sig.generics),
                            cfgs: cfg::conditions(&pat.attrs),
                        });
                    }
                }
            }
            let cfgs = cfg::conditions(&method.attrs);
            if let Some(message) = route::check_under_base(&base_path, &attr.path.value()) {
                errors.error(&attr.path, message);
            } else if let Some(message) = conflict(&routes, &attr, &cfgs) {
                errors.error(&attr.path, message);
            }
            routes.push(Route {
                attr,
                cfgs,
                ident: sig.ident.clone(),
                takes_self,
                args,
                guard: method_guard,
            });
        }
        if route_attrs == 0 && item.trait_.is_none() {
            errors.error(
                &item.self_ty,
                "this controller has no routes: mark methods with `#[get(\"/path\")]`, `#[post]`, `#[put]`, `#[patch]` or `#[delete]`",
            );
        }
        errors.finish()?;
        Ok(Model {
            self_ty: (*item.self_ty).clone(),
            item,
            name,
            base: args.base,
            from_app: args.from_app,
            krate: args.krate,
            unregistered: args.registry.and_then(|(on, span)| (!on).then_some(span)),
            guard,
            routes,
            allowance,
        })
    }
}

/// Why `attr` cannot join `routes`, if it cannot. Only routes under the
/// same `#[cfg]`s (in any order) are compared: a proc macro cannot evaluate
/// a cfg, and routes under different ones may never exist together
/// (`cfg(feature = "x")` beside `cfg(not(feature = "x"))`). Conflicts
/// between those are the app build's to report.
fn conflict(routes: &[Route], attr: &RouteAttr, cfgs: &[syn::Attribute]) -> Option<String> {
    let conditions = cfg_set(cfgs);
    let together: Vec<&Route> = routes
        .iter()
        .filter(|r| cfg_set(&r.cfgs) == conditions)
        .collect();
    let path = attr.path.value();
    let shape = route::shape(&path);
    let same_shape = |r: &&&Route| route::shape(&r.attr.path.value()) == shape;
    if let Some(r) = together
        .iter()
        .filter(same_shape)
        .find(|r| r.attr.method == attr.method)
    {
        return Some(format!(
            "`{} {path}` is already a route of this controller (`{}`)",
            attr.method.to_string().to_uppercase(),
            r.ident
        ));
    }
    // The router holds one spelling per path, whatever the method.
    if let Some(r) = together
        .iter()
        .filter(same_shape)
        .find(|r| r.attr.path.value() != path)
    {
        return Some(format!(
            "`{path}` names its parameters unlike `{}` (`{}`) on the same path: use the same names",
            r.attr.path.value(),
            r.ident
        ));
    }
    let r = together
        .iter()
        .find(|r| route::wildcard_clash(&r.attr.path.value(), &path))?;
    Some(format!(
        "`{path}` cannot sit beside `{}` (`{}`): the router cannot hold a parameter and a catch-all at the same place, whatever their methods",
        r.attr.path.value(),
        r.ident
    ))
}

/// A route's `#[cfg]`s as a set, to compare two routes' conditions.
fn cfg_set(cfgs: &[syn::Attribute]) -> std::collections::BTreeSet<String> {
    cfgs.iter()
        .map(|a| a.meta.to_token_stream().to_string())
        .collect()
}

/// Route and guard attributes inside a method's `#[cfg_attr(..)]`: rustc
/// applies those only after `#[controller]` ran (unlike the impl block's
/// own), so they would expand on their own, as if outside a controller.
pub(super) fn conditional_helpers(attr: &syn::Attribute) -> Vec<Meta> {
    let mut found = Vec::new();
    if let Meta::List(list) = &attr.meta
        && list.path.is_ident("cfg_attr")
    {
        collect_conditional(list, &mut found);
    }
    found
}

fn collect_conditional(list: &MetaList, found: &mut Vec<Meta>) {
    // `cfg_attr(predicate, attr, ..)`; a malformed one is rustc's to report.
    let parsed = list.parse_args_with(|input: ParseStream| {
        input.parse::<Meta>()?;
        input.parse::<Token![,]>()?;
        Punctuated::<Meta, Token![,]>::parse_terminated(input)
    });
    for meta in parsed.into_iter().flatten() {
        match &meta {
            Meta::List(inner) if inner.path.is_ident("cfg_attr") => {
                collect_conditional(inner, found);
            }
            _ if route::METHODS
                .iter()
                .chain(&guard::GUARDS)
                .any(|name| helper_is(meta.path(), name)) =>
            {
                found.push(meta);
            }
            _ => {}
        }
    }
}

/// The attributes of an impl item that is not a method, where route and
/// guard attributes do not belong.
pub(super) fn non_method_attrs(item: &mut ImplItem) -> Option<&mut Vec<syn::Attribute>> {
    match item {
        ImplItem::Const(c) => Some(&mut c.attrs),
        ImplItem::Type(t) => Some(&mut t.attrs),
        ImplItem::Macro(m) => Some(&mut m.attrs),
        _ => None,
    }
}

/// Whether `path` ends in `name`, as `crate::ctxt::attr_is` for attributes.
fn helper_is(path: &Path, name: &str) -> bool {
    path.segments.last().is_some_and(|s| s.ident == name)
}

fn helper_name(path: &Path) -> String {
    path.segments
        .last()
        .map(|s| s.ident.to_string())
        .unwrap_or_default()
}

/// The span of the item's leading keyword, where "wrong item" errors belong.
fn item_keyword_span(item: &Item) -> proc_macro2::Span {
    match item {
        Item::Fn(f) => f.sig.fn_token.span,
        Item::Struct(s) => s.struct_token.span,
        Item::Enum(e) => e.enum_token.span,
        Item::Trait(t) => t.trait_token.span,
        Item::Mod(m) => m.mod_token.span,
        other => other.span(),
    }
}

/// `ty` without invisible groups (a type passed through `macro_rules!` as
/// `$t:ty` arrives wrapped in one) or parentheses.
fn ungroup(ty: &Type) -> &Type {
    match ty {
        Type::Group(g) => ungroup(&g.elem),
        Type::Paren(p) => ungroup(&p.elem),
        other => other,
    }
}

/// `ty` with the lifetimes the handler's closures could not take written
/// `'static`, each where it was: the method's own (not in scope outside
/// it), `'_`, and a reference's elided one (a closure taking a borrow of
/// any lifetime cannot return a future holding it). Axum asks a handler's
/// arguments to be `'static` anyway; the method, called with them, still
/// infers its own. Those of a `fn` pointer or `Fn(..)` bound are theirs.
fn static_lifetimes(ty: &Type, generics: &syn::Generics) -> Type {
    use syn::visit_mut::{self, VisitMut};
    struct Static<'g>(&'g syn::Generics);
    impl VisitMut for Static<'_> {
        fn visit_lifetime_mut(&mut self, lifetime: &mut syn::Lifetime) {
            if lifetime.ident == "_" || self.0.lifetimes().any(|p| p.lifetime == *lifetime) {
                *lifetime = syn::Lifetime::new("'static", lifetime.span());
            }
        }
        fn visit_type_reference_mut(&mut self, reference: &mut syn::TypeReference) {
            if reference.lifetime.is_none() {
                let span = reference.and_token.span;
                reference.lifetime = Some(syn::Lifetime::new("'static", span));
            }
            visit_mut::visit_type_reference_mut(self, reference);
        }
        fn visit_type_bare_fn_mut(&mut self, _: &mut syn::TypeBareFn) {}
        fn visit_parenthesized_generic_arguments_mut(
            &mut self,
            _: &mut syn::ParenthesizedGenericArguments,
        ) {
        }
    }
    let mut ty = ty.clone();
    Static(generics).visit_type_mut(&mut ty);
    ty
}

/// Whether `ty` is `Self`.
fn is_self(ty: &Type) -> bool {
    matches!(ungroup(ty), Type::Path(p) if p.qself.is_none() && p.path.is_ident("Self"))
}

/// Controllers' routes are built into a router without state (`Router<()>`),
/// so axum's `State<T>` cannot be extracted; rustc would say only that
/// `T: FromRef<()>` does not hold, on `#[controller]`.
const STATE_HELP: &str = "controller routes have no router state, so `State<T>` cannot be extracted: \
give the value to `AppBuilder::provide` and take it as `Extension<T>`, \
or build the controller with `#[controller(\"/base\", from_app)]` and keep it in a field \
(an extractor of your own named `State`: import it under another name)";

/// The type when it is written `State<..>` (or `path::State<..>`).
fn router_state(ty: &Type) -> Option<&Type> {
    let Type::Path(path) = ty else {
        return None;
    };
    let last = path.path.segments.last()?;
    let state = path.qself.is_none()
        && last.ident == "State"
        && matches!(last.arguments, syn::PathArguments::AngleBracketed(_));
    state.then_some(ty)
}
