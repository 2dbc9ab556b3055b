use std::any::TypeId;
use std::fmt;
use std::sync::Arc;

use super::Interceptor;
use crate::app::{AppContext, BuildError};

/// Names an interceptor type, usable in `const` registrations.
#[derive(Clone, Copy)]
pub struct InterceptorRef {
    type_id: fn() -> TypeId,
    name: fn() -> &'static str,
}

impl InterceptorRef {
    /// The reference to `T`; `T` must be an interceptor, so a typo fails to compile.
    pub const fn of<T: Interceptor>() -> Self {
        Self::of_unchecked::<T>()
    }

    /// The reference to `T`, with the bound left to the caller: the
    /// macro's registration checks it once, where it builds the value.
    pub(crate) const fn of_unchecked<T: 'static>() -> Self {
        Self {
            type_id: TypeId::of::<T>,
            name: std::any::type_name::<T>,
        }
    }

    /// The type's id.
    pub fn type_id(&self) -> TypeId {
        (self.type_id)()
    }

    /// The type's full path, as [`std::any::type_name`] gives it.
    pub fn type_name(&self) -> &'static str {
        (self.name)()
    }

    /// The type's name, shortened to its last path segment.
    pub fn name(&self) -> &'static str {
        let full = (self.name)();
        // `a::b::C<d::E>`: keep `C<d::E>`, the part after the last `::` before any `<`.
        let head = full.split('<').next().unwrap_or(full);
        match head.rfind("::") {
            Some(i) => &full[i + 2..],
            None => full,
        }
    }
}

/// The name `r` is shown under among `others`: its short
/// [`name`](InterceptorRef::name), or when another type there has the same
/// one (`a::Audit`, `b::Audit`), the shortest end of its path that no other
/// such type shares, so messages and listings tell them apart.
pub(crate) fn display_name(r: &InterceptorRef, others: &[InterceptorRef]) -> &'static str {
    let short = r.name();
    let alike: Vec<&'static str> = others
        .iter()
        .filter(|o| o.type_id() != r.type_id() && o.name() == short)
        .map(InterceptorRef::type_name)
        .collect();
    if alike.is_empty() {
        return short;
    }
    let full = r.type_name();
    path_suffixes(full)
        .find(|suffix| {
            !alike
                .iter()
                .any(|other| path_suffixes(other).any(|o| o == *suffix))
        })
        .unwrap_or(full)
}

/// `a::b::C<d::E>`'s ends at `::` boundaries before any `<`, shortest
/// first: `C<d::E>`, `b::C<d::E>`, `a::b::C<d::E>`.
fn path_suffixes(full: &'static str) -> impl Iterator<Item = &'static str> {
    let head = full.split('<').next().unwrap_or(full);
    let mut starts: Vec<usize> = head.match_indices("::").map(|(i, _)| i + 2).collect();
    starts.reverse();
    starts.into_iter().chain([0]).map(move |i| &full[i..])
}

impl PartialEq for InterceptorRef {
    fn eq(&self, other: &Self) -> bool {
        self.type_id() == other.type_id()
    }
}

impl fmt::Debug for InterceptorRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A registered interceptor: collected from every linked crate through the
/// registry (`#[interceptor]` submits one), or passed to
/// [`AppBuilder::interceptor`](crate::AppBuilder::interceptor) (which
/// [`AppBuilder::add_interceptor`](crate::AppBuilder::add_interceptor) does
/// with the one `#[interceptor(registry = false)]` generates).
pub struct InterceptorRegistration {
    /// The interceptor type.
    pub interceptor: InterceptorRef,
    /// Interceptors that must run outside this one (before it on the way in).
    pub depends_on: &'static [InterceptorRef],
    /// Interceptors that must run inside this one (after it on the way in).
    pub runs_before: &'static [InterceptorRef],
    /// Built-in interceptors sort before app ones when nothing else decides.
    pub builtin: bool,
    /// Builds the interceptor once, when the app is built.
    pub build: fn(&AppContext) -> Result<Arc<dyn Interceptor>, BuildError>,
}

impl fmt::Debug for InterceptorRegistration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InterceptorRegistration")
            .field("interceptor", &self.interceptor)
            .field("depends_on", &self.depends_on)
            .field("runs_before", &self.runs_before)
            .finish_non_exhaustive()
    }
}

inventory::collect!(InterceptorRegistration);
