//! The typed model of a `#[session_data]` struct.

use proc_macro2::TokenStream;
use syn::meta::ParseNestedMeta;
use syn::punctuated::Punctuated;
use syn::{Fields, Ident, Item, ItemStruct, LitStr, Meta, Path, Token, Type, Visibility};

use crate::ctxt::{Errors, attr_is};

const KEYS: &str = "validate, group_id, authenticated, crate";
const SERDE_KEYS: &str =
    "rename, alias, skip, default, with, serialize_with, deserialize_with, skip_serializing_if";

pub(super) struct Model {
    pub(super) item: ItemStruct,
    pub(super) krate: Option<Path>,
    pub(super) validate: Option<Path>,
    pub(super) group_id: Option<Ident>,
    pub(super) authenticated: Option<Ident>,
    pub(super) fields: Vec<FieldModel>,
}

pub(super) struct FieldModel {
    pub(super) ident: Ident,
    pub(super) ty: Type,
    pub(super) vis: Visibility,
    /// The name stored; `None` for skipped fields.
    pub(super) stored: Option<String>,
    pub(super) aliases: Vec<String>,
    pub(super) default: FieldDefault,
    pub(super) serialize_with: Option<Path>,
    pub(super) deserialize_with: Option<Path>,
    /// The field's `#[deprecated]`, which its accessors carry too.
    pub(super) deprecated: Vec<syn::Attribute>,
}

pub(super) enum FieldDefault {
    /// The struct's `Default` value for the field.
    Struct,
    /// `Default::default()` of the field's type (`#[serde(default)]`).
    Type,
    /// `path()` (`#[serde(default = "path")]`).
    Path(Path),
}

#[derive(Default)]
struct Args {
    krate: Option<Path>,
    validate: Option<Path>,
    group_id: Option<Ident>,
    authenticated: Option<Ident>,
}

fn once<T>(slot: &mut Option<T>, meta: &ParseNestedMeta, value: T) -> syn::Result<()> {
    if slot.is_some() {
        let key = meta
            .path
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_default();
        return Err(meta.error(format!("duplicate key `{key}`")));
    }
    *slot = Some(value);
    Ok(())
}

/// A key's value, written as code: a string in its place (as serde's
/// attributes take them) is an error that shows the unquoted spelling.
fn unquoted<T: syn::parse::Parse>(meta: &ParseNestedMeta, what: &str) -> syn::Result<T> {
    let value = meta.value()?;
    if value.peek(syn::LitStr) {
        let lit: syn::LitStr = value.parse()?;
        let key = key_name(meta);
        return Err(syn::Error::new(
            lit.span(),
            format!(
                "`{key}` takes {what}, not a string: write `{key} = {}`",
                lit.value()
            ),
        ));
    }
    value.parse()
}

fn key_name(meta: &ParseNestedMeta) -> String {
    meta.path
        .get_ident()
        .map(ToString::to_string)
        .unwrap_or_else(|| {
            let path = &meta.path;
            quote::quote!(#path).to_string()
        })
}

impl Args {
    fn parse(tokens: TokenStream, errors: &mut Errors) -> Self {
        let mut args = Args::default();
        let parser = syn::meta::parser(|meta| {
            if meta.path.is_ident("validate") {
                let path: Path = unquoted(&meta, "a function's path")?;
                once(&mut args.validate, &meta, path)
            } else if meta.path.is_ident("group_id") {
                let ident: Ident = unquoted(&meta, "a field's name")?;
                once(&mut args.group_id, &meta, ident)
            } else if meta.path.is_ident("authenticated") {
                let ident: Ident = unquoted(&meta, "a field's name")?;
                once(&mut args.authenticated, &meta, ident)
            } else if meta.path.is_ident("crate") {
                let path: Path = unquoted(&meta, "a path")?;
                once(&mut args.krate, &meta, path)
            } else {
                Err(meta.error(format!(
                    "unknown key `{}` in #[session_data]; expected one of: {KEYS}",
                    key_name(&meta)
                )))
            }
        });
        errors.ok(syn::parse::Parser::parse2(parser, tokens));
        args
    }
}

impl Model {
    /// The model, and the errors of fields it leaves out: those fields'
    /// attributes are wrong, but the rest of the struct is sound, so its
    /// code is still generated and a use of the struct elsewhere does not
    /// add errors of its own. An error in the struct as a whole gives no
    /// model.
    pub(super) fn parse(
        args: TokenStream,
        item: TokenStream,
    ) -> syn::Result<(Model, Option<syn::Error>)> {
        let mut errors = Errors::default();
        let mut field_errors = Errors::default();
        let args = Args::parse(args, &mut errors);
        let mut item = match syn::parse2::<Item>(item)? {
            Item::Struct(s) => s,
            Item::Enum(e) => {
                return Err(syn::Error::new_spanned(
                    e.enum_token,
                    "#[session_data] needs a struct with named fields, not an enum",
                ));
            }
            Item::Union(u) => {
                return Err(syn::Error::new_spanned(
                    u.union_token,
                    "#[session_data] needs a struct with named fields, not a union",
                ));
            }
            other => {
                return Err(syn::Error::new_spanned(
                    other,
                    "#[session_data] needs a struct with named fields",
                ));
            }
        };
        if !item.generics.params.is_empty() {
            errors.error(&item.generics, "#[session_data] does not support generic parameters: stored sessions need one concrete type");
        } else if let Some(clause) = &item.generics.where_clause {
            errors.error(clause, "#[session_data] does not support a `where` clause: stored sessions need one concrete type, whose fields' bounds it checks itself");
        }
        // The attribute being expanded is no longer on the item: another
        // one would generate every item a second time.
        for attr in item.attrs.iter().filter(|a| attr_is(a, "session_data")) {
            errors.error(attr, "duplicate #[session_data] attribute");
        }
        let keep_serde = derives_serde(&item);
        refuse_container_renames(&item, &mut errors);
        if !keep_serde {
            item.attrs.retain(|a| !attr_is(a, "serde"));
        }
        let mut fields = Vec::new();
        match &mut item.fields {
            Fields::Named(named) => {
                for field in named.named.iter_mut() {
                    if let Some(model) = FieldModel::parse(field, &mut field_errors, &mut errors) {
                        fields.push(model);
                    }
                    if !keep_serde {
                        field.attrs.retain(|a| !attr_is(a, "serde"));
                    }
                }
            }
            Fields::Unnamed(unnamed) => errors.error(
                &*unnamed,
                "#[session_data] needs named fields: each field is stored under its name",
            ),
            Fields::Unit => errors.error(
                &item.ident,
                "#[session_data] needs a struct with named fields, not a unit struct",
            ),
        }
        let mut seen: Vec<&str> = Vec::new();
        for f in &fields {
            for name in f.stored.iter().chain(&f.aliases) {
                if seen.contains(&name.as_str()) {
                    errors.error(
                        &f.ident,
                        format!("two fields are stored under the name `{name}`"),
                    );
                }
                seen.push(name);
            }
        }
        // Each stored field gets `name`, `set_name` and `update_name`: a
        // field named like another's setter or updater would clash.
        for f in &fields {
            let name = f.ident.to_string();
            let name = name.trim_start_matches("r#");
            for other in fields.iter().filter(|o| o.stored.is_some()) {
                let other_name = other.ident.to_string();
                let other_name = other_name.trim_start_matches("r#");
                for prefix in ["set_", "update_"] {
                    if name.strip_prefix(prefix) == Some(other_name) {
                        errors.error(
                            &f.ident,
                            format!(
                                "a field named `{name}` clashes with the `{name}` method \
                                 generated for `{other_name}`; rename one of them"
                            ),
                        );
                    }
                }
            }
            // `Session::group_id()` and `is_authenticated()` read the field
            // named as their source: the same value.
            let source = match name {
                "group_id" => args.group_id.as_ref(),
                "is_authenticated" => args.authenticated.as_ref(),
                _ => None,
            };
            if SESSION_METHODS.contains(&name) && source != Some(&f.ident) {
                let calls = match name {
                    "into" => "`Into::into`".to_owned(),
                    "try_into" => "`TryInto::try_into`".to_owned(),
                    "drop" => "`Drop::drop`".to_owned(),
                    // `&Session<T>` is `Clone`, so through a reference.
                    "clone" | "clone_from" => format!("`Clone::{name}` on a `&Session<T>`"),
                    "to_owned" | "clone_into" => format!("`ToOwned::{name}` on a `&Session<T>`"),
                    _ => format!("`Session::{name}`"),
                };
                errors.error(
                    &f.ident,
                    format!(
                        "a field named `{name}` would be hidden: `session.{name}()` calls \
                         {calls}; rename the field and keep its stored name with \
                         `#[serde(rename = \"{name}\")]`"
                    ),
                );
            }
        }
        for (key, ident) in [
            ("group_id", &args.group_id),
            ("authenticated", &args.authenticated),
        ] {
            let Some(ident) = ident else { continue };
            match fields.iter().find(|f| f.ident == *ident) {
                None => {
                    let names: Vec<String> = fields.iter().map(|f| f.ident.to_string()).collect();
                    errors.error(
                        ident,
                        format!(
                            "no field `{ident}` in this struct; fields: {}",
                            names.join(", ")
                        ),
                    );
                }
                // Never stored, it would read its default on every request.
                Some(f) if f.stored.is_none() => errors.error(
                    ident,
                    format!(
                        "`{key} = {ident}` names a `#[serde(skip)]` field, which is never stored"
                    ),
                ),
                Some(_) => {}
            }
        }
        if let Err(mut error) = errors.finish() {
            if let Err(field_error) = field_errors.finish() {
                error.combine(field_error);
            }
            return Err(error);
        }
        let model = Model {
            item,
            krate: args.krate,
            validate: args.validate,
            group_id: args.group_id,
            authenticated: args.authenticated,
            fields,
        };
        Ok((model, field_errors.finish().err()))
    }

    /// The lint allowance of the generated code, from the struct's and its
    /// fields' attributes ([`Allowance`](crate::ctxt::Allowance)).
    pub(super) fn allowance(&self) -> crate::ctxt::Allowance {
        let fields = self.item.fields.iter().flat_map(|f| &f.attrs);
        crate::ctxt::Allowance::of_all(self.item.attrs.iter().chain(fields))
    }

    pub(super) fn stored(&self) -> impl Iterator<Item = (usize, &FieldModel, &str)> {
        self.fields
            .iter()
            .filter_map(|f| f.stored.as_deref().map(|name| (f, name)))
            .enumerate()
            .map(|(i, (f, name))| (i, f, name))
    }
}

/// Struct-level `#[serde(rename_all ..)]` would rename what serde writes
/// but not the stored names, which are the fields' own: refused, not ignored.
fn refuse_container_renames(item: &ItemStruct, errors: &mut Errors) {
    for attr in item.attrs.iter().filter(|a| attr_is(a, "serde")) {
        let mut refused = Vec::new();
        let result = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename_all") || meta.path.is_ident("rename_all_fields") {
                refused.push(syn::Error::new_spanned(
                    &meta.path,
                    format!(
                        "#[session_data] stores each field under its own name and does not \
                         follow `{}`: rename fields one by one with `#[serde(rename = \"..\")]`",
                        key_name(&meta)
                    ),
                ));
            }
            skip_value(&meta)
        });
        refused.into_iter().for_each(|e| errors.push(e));
        errors.ok(result);
    }
}

/// Consumes the value of a serde key this macro does not read.
fn skip_value(meta: &ParseNestedMeta) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) {
        meta.value()?.parse::<syn::Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        meta.parse_nested_meta(|inner| skip_value(&inner))?;
    }
    Ok(())
}

/// Whether the struct also derives serde's traits (then `#[serde]` field
/// attributes stay for them; otherwise they are removed after reading).
pub(super) fn derives_serde(item: &ItemStruct) -> bool {
    item.attrs.iter().filter(|a| attr_is(a, "derive")).any(|a| {
        let mut found = false;
        let _ = a.parse_nested_meta(|meta| {
            if meta
                .path
                .segments
                .last()
                .is_some_and(|s| s.ident == "Serialize" || s.ident == "Deserialize")
            {
                found = true;
            }
            Ok(())
        });
        found
    })
}

fn lit_path(lit: &LitStr) -> syn::Result<Path> {
    lit.parse::<Path>().map_err(|_| {
        syn::Error::new(
            lit.span(),
            "expected a path in a string, like \"my_module::function\"",
        )
    })
}

impl FieldModel {
    /// The field as its attributes describe it. An attribute that is wrong
    /// is reported in `errors` and left out of the model; a field the
    /// generated code cannot follow (a conditional one) in `fatal`.
    fn parse(field: &syn::Field, errors: &mut Errors, fatal: &mut Errors) -> Option<FieldModel> {
        let ident = field.ident.clone()?;
        let mut model = FieldModel {
            stored: Some(ident.to_string().trim_start_matches("r#").to_owned()),
            ident,
            ty: field.ty.clone(),
            vis: field.vis.clone(),
            aliases: Vec::new(),
            default: FieldDefault::Struct,
            serialize_with: None,
            deserialize_with: None,
            deprecated: field
                .attrs
                .iter()
                .filter(|a| attr_is(a, "deprecated"))
                .cloned()
                .collect(),
        };
        // Keys already given, across all of the field's `#[serde]`s: serde
        // refuses a repeated key, and the last one must not win silently.
        let mut seen: Vec<&'static str> = Vec::new();
        for attr in field.attrs.iter().filter(|a| attr_is(a, "serde")) {
            let result = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("rename") {
                    if !meta.input.peek(syn::Token![=]) {
                        return Err(meta.error(
                            "#[session_data] supports `rename = \"name\"` only (one name for both directions)",
                        ));
                    }
                    once_key(&mut seen, &meta, "rename")?;
                    let lit: LitStr = meta.value()?.parse()?;
                    model.stored = model.stored.as_ref().map(|_| lit.value());
                } else if meta.path.is_ident("alias") {
                    let lit: LitStr = meta.value()?.parse()?;
                    if model.stored.as_deref() == Some(&lit.value()) {
                        return Err(syn::Error::new(lit.span(), own_alias(&lit.value())));
                    }
                    model.aliases.push(lit.value());
                } else if meta.path.is_ident("skip") {
                    once_key(&mut seen, &meta, "skip")?;
                    model.stored = None;
                } else if meta.path.is_ident("default") {
                    once_key(&mut seen, &meta, "default")?;
                    model.default = if meta.input.peek(syn::Token![=]) {
                        let lit: LitStr = meta.value()?.parse()?;
                        FieldDefault::Path(lit_path(&lit)?)
                    } else {
                        FieldDefault::Type
                    };
                } else if meta.path.is_ident("with") {
                    // `with` sets both directions, as serde reads it.
                    for key in ["serialize_with", "deserialize_with"] {
                        if seen.contains(&key) {
                            return Err(meta.error(format!(
                                "duplicate serde attribute `with`: `{key}` is already given"
                            )));
                        }
                    }
                    once_key(&mut seen, &meta, "serialize_with")?;
                    once_key(&mut seen, &meta, "deserialize_with")?;
                    let lit: LitStr = meta.value()?.parse()?;
                    let module = lit_path(&lit)?;
                    model.serialize_with = Some(syn::parse_quote_spanned!(lit.span()=> #module::serialize));
                    model.deserialize_with = Some(syn::parse_quote_spanned!(lit.span()=> #module::deserialize));
                } else if meta.path.is_ident("serialize_with") {
                    once_key(&mut seen, &meta, "serialize_with")?;
                    let lit: LitStr = meta.value()?.parse()?;
                    model.serialize_with = Some(lit_path(&lit)?);
                } else if meta.path.is_ident("deserialize_with") {
                    once_key(&mut seen, &meta, "deserialize_with")?;
                    let lit: LitStr = meta.value()?.parse()?;
                    model.deserialize_with = Some(lit_path(&lit)?);
                } else if meta.path.is_ident("skip_serializing_if") {
                    once_key(&mut seen, &meta, "skip_serializing_if")?;
                    // Meaningless for per-field storage; accept it for structs that also derive Serialize.
                    let _: LitStr = meta.value()?.parse()?;
                } else {
                    return Err(meta.error(format!(
                        "serde attribute `{}` is not supported by #[session_data]; supported: {SERDE_KEYS}",
                        key_name(&meta)
                    )));
                }
                Ok(())
            });
            errors.ok(result);
        }
        if let Some(stored) = &model.stored
            && model.aliases.contains(stored)
        {
            errors.error(field, own_alias(stored));
            model.aliases.retain(|a| a != stored);
        }
        if model.stored.is_none() && !model.aliases.is_empty() {
            errors.error(
                field,
                "a skipped field is not stored, so it cannot have aliases",
            );
        }
        for attr in field.attrs.iter().filter(|a| attr_is(a, "cfg")) {
            fatal.error(
                attr,
                "#[session_data] fields cannot be conditional: the stored fields and their \
                 accessors are generated for every field; use an `Option` field instead",
            );
        }
        for serde in field.attrs.iter().flat_map(conditional_serde) {
            errors.error(
                serde,
                "#[session_data] cannot read `serde(..)` inside `cfg_attr`: it chooses the \
                 stored name and encoding before the condition is evaluated; write \
                 `#[serde(..)]` unconditionally",
            );
        }
        Some(model)
    }
}

/// Records `key` for a field, refusing it the second time.
fn once_key(
    seen: &mut Vec<&'static str>,
    meta: &ParseNestedMeta,
    key: &'static str,
) -> syn::Result<()> {
    if seen.contains(&key) {
        return Err(meta.error(format!("duplicate serde attribute `{key}`")));
    }
    seen.push(key);
    Ok(())
}

/// The `serde(..)` attributes inside a `#[cfg_attr(..)]`, nested ones
/// included: the macro runs before the condition is evaluated, so it cannot
/// know whether they apply.
pub(super) fn conditional_serde(attr: &syn::Attribute) -> Vec<Meta> {
    if !attr_is(attr, "cfg_attr") {
        return Vec::new();
    }
    let Ok(list) = attr.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated) else {
        // Malformed: rustc reports it when it evaluates the attribute.
        return Vec::new();
    };
    list.into_iter().skip(1).flat_map(nested_serde).collect()
}

fn nested_serde(meta: Meta) -> Vec<Meta> {
    let is = |name: &str| meta.path().segments.last().is_some_and(|s| s.ident == name);
    if is("serde") {
        return vec![meta];
    }
    match meta {
        Meta::List(list) if list.path.is_ident("cfg_attr") => list
            .parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)
            .map(|inner| inner.into_iter().skip(1).flat_map(nested_serde).collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

fn own_alias(name: &str) -> String {
    format!("the alias `{name}` is this field's own stored name; remove it")
}

/// Methods of `Session<T>` itself: a getter of a field with one of these
/// names would never be reached through `Session<T>`'s `Deref`. Keep in
/// step with `session_core::Session` and `session_axum::Session`
/// (`into_inner`). `into` and `try_into` are the prelude's `Into` and
/// `TryInto`, which every type has.
const SESSION_METHODS: &[&str] = &[
    "into",
    "try_into",
    "drop",
    "clone",
    "clone_from",
    "to_owned",
    "clone_into",
    "into_inner",
    "cell",
    "session_id",
    "is_new",
    "user_id",
    "label",
    "meta",
    "is_authenticated",
    "group_id",
    "flash",
    "take_flash",
    "update",
    "login",
    "destroy",
    "rotate",
    "require_unchanged_revision",
    "changed_fields",
    "is_modified",
    "commit",
];
