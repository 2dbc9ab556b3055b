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
/// [`AppBuilder::interceptor`](crate::AppBuilder::interceptor).
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
