//! `Self` spelled out: generated code that sits outside the user's item
//! (a handler closure, the tracked type's accessors) cannot say `Self`.

use syn::visit_mut::{self, VisitMut};
use syn::{ExprPath, Path, Type};

/// `ty` with every `Self` replaced by `self_ty`: `Self` itself becomes
/// `self_ty`, and `Self::X` (in a type or an expression such as an array
/// length) becomes `<self_ty>::X`.
pub(crate) fn replace_self(ty: &Type, self_ty: &Type) -> Type {
    let mut ty = ty.clone();
    ReplaceSelf(self_ty).visit_type_mut(&mut ty);
    ty
}

struct ReplaceSelf<'a>(&'a Type);

/// The segments after a leading `Self` of a plain path (no `<..>::`, no
/// leading `::`), or `None` when it does not start with `Self`.
fn after_self(path: &Path) -> Option<Vec<&syn::PathSegment>> {
    let first = path.segments.first()?;
    (path.leading_colon.is_none() && first.ident == "Self")
        .then(|| path.segments.iter().skip(1).collect())
}

impl VisitMut for ReplaceSelf<'_> {
    fn visit_type_mut(&mut self, ty: &mut Type) {
        if let Type::Path(p) = ty
            && p.qself.is_none()
            && let Some(rest) = after_self(&p.path)
        {
            let self_ty = self.0;
            *ty = if rest.is_empty() {
                self_ty.clone()
            } else {
                syn::parse_quote!(<#self_ty>::#(#rest)::*)
            };
            return;
        }
        visit_mut::visit_type_mut(self, ty);
    }

    fn visit_expr_path_mut(&mut self, expr: &mut ExprPath) {
        if expr.qself.is_none()
            && let Some(rest) = after_self(&expr.path)
            && !rest.is_empty()
        {
            let self_ty = self.0;
            *expr = syn::parse_quote!(<#self_ty>::#(#rest)::*);
            return;
        }
        visit_mut::visit_expr_path_mut(self, expr);
    }
}
