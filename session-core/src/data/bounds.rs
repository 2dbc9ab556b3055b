//! What `#[session_data]` asks of each field's type, checked once per field
//! on the field's own type so that a missing trait is one error there (the
//! generated impls assume these bounds instead of failing one by one).
//!
//! Each trait is implemented for every type meeting its bounds; the bounds
//! sit on the impl, not on the trait, so that rustc reports the trait's own
//! message and names the bound that failed.

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A field type shared between a request's tasks.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a session field: it is not `Send + Sync`",
    label = "session data is shared between threads: this type must be `Send + Sync`",
    note = "use `Arc` for `Rc`, `Mutex` or an atomic for `Cell` or `RefCell`; or keep the value out of the session"
)]
pub trait SharedField {
    /// Named by the generated check.
    const CHECK: () = ();
}

impl<T: Send + Sync + 'static + ?Sized> SharedField for T {}

/// A stored field's type, written as JSON.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be stored in a session field",
    label = "`{Self}` does not implement `Serialize`",
    note = "each field is stored as JSON: derive `serde::Serialize` and `serde::Deserialize` for the type, give the field its own `#[serde(with = \"..\")]`, or leave it out with `#[serde(skip)]`"
)]
pub trait SerializeField {
    /// Named by the generated check.
    const CHECK: () = ();
}

impl<T: Serialize + ?Sized> SerializeField for T {}

/// A stored field's type, read from JSON.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be stored in a session field",
    label = "`{Self}` does not implement `Deserialize`",
    note = "each field is stored as JSON: derive `serde::Serialize` and `serde::Deserialize` for the type, give the field its own `#[serde(with = \"..\")]`, or leave it out with `#[serde(skip)]`"
)]
pub trait DeserializeField {
    /// Named by the generated check.
    const CHECK: () = ();
}

impl<T: DeserializeOwned> DeserializeField for T {}

/// Checks a field read and written with serde: `(&&SerdeProbe::<T>::new()).probe_session_field()`
/// with both probe traits in scope asks for `Deserialize` only once
/// `Serialize` holds, so a type with neither gets one error, not two.
#[doc(hidden)]
pub struct SerdeProbe<T: ?Sized>(PhantomData<T>);

impl<T: ?Sized> std::fmt::Debug for SerdeProbe<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SerdeProbe")
    }
}

impl<T: ?Sized> SerdeProbe<T> {
    /// The probe.
    pub const fn new() -> Self {
        Self(PhantomData)
    }
}

impl<T: ?Sized> Default for SerdeProbe<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// Taken when the type is `Serialize`: checks `Deserialize`.
#[doc(hidden)]
pub trait ProbeSerialized<T: ?Sized> {
    /// Fails on the field's type unless it is `Deserialize`.
    fn probe_session_field(&self)
    where
        T: DeserializeField,
    {
    }
}

impl<T: Serialize + ?Sized> ProbeSerialized<T> for &SerdeProbe<T> {}

/// Taken otherwise: checks `Serialize`, which fails.
#[doc(hidden)]
pub trait ProbeUnserialized<T: ?Sized> {
    /// Fails on the field's type unless it is `Serialize`.
    fn probe_session_field(&self)
    where
        T: SerializeField,
    {
    }
}

impl<T: ?Sized> ProbeUnserialized<T> for SerdeProbe<T> {}
