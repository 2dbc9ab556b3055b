//! How `#[session_data]` compares a field with its stored JSON by value, for
//! types whose encoding is not canonical (a `HashSet` lists its items in any
//! order, so equal sets may encode differently).
//!
//! The generated code calls `(&&FieldCompare::<T>::new()).matches_stored_field(..)` with both
//! traits in scope: method lookup takes [`CompareByValue`] when `T` has
//! `PartialEq` and `Deserialize`, and [`CompareUnknown`] otherwise.

use std::marker::PhantomData;

use serde::de::DeserializeOwned;

/// Selects the comparison for field type `T`.
#[doc(hidden)]
pub struct FieldCompare<T>(PhantomData<T>);

impl<T> FieldCompare<T> {
    /// The selector.
    pub const fn new() -> Self {
        Self(PhantomData)
    }
}

impl<T> std::fmt::Debug for FieldCompare<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FieldCompare")
    }
}

impl<T> Default for FieldCompare<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// Compares by value: the stored JSON decoded, then `==`.
#[doc(hidden)]
pub trait CompareByValue<T> {
    /// Whether `value` equals what `stored` decodes to; `None` when it does not decode.
    fn matches_stored_field(&self, value: &T, stored: &str) -> Option<bool>;
}

impl<T: PartialEq + DeserializeOwned> CompareByValue<T> for &FieldCompare<T> {
    fn matches_stored_field(&self, value: &T, stored: &str) -> Option<bool> {
        serde_json::from_str::<T>(stored).ok().map(|s| s == *value)
    }
}

/// No comparison by value: the caller compares the encoded bytes.
#[doc(hidden)]
pub trait CompareUnknown<T> {
    /// Always `None`.
    fn matches_stored_field(&self, _value: &T, _stored: &str) -> Option<bool> {
        None
    }
}

impl<T> CompareUnknown<T> for FieldCompare<T> {}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    struct Opaque;

    #[test]
    #[allow(clippy::needless_borrow)] // The borrows pick the comparison.
    fn types_with_equality_compare_by_value_others_not_at_all() {
        let set: HashSet<u32> = (0..64).collect();
        let mut items: Vec<u32> = set.iter().copied().collect();
        items.reverse();
        let reordered = serde_json::to_string(&items).unwrap();
        assert_eq!(
            (&&FieldCompare::<HashSet<u32>>::new()).matches_stored_field(&set, &reordered),
            Some(true)
        );
        assert_eq!(
            (&&FieldCompare::<HashSet<u32>>::new()).matches_stored_field(&set, "[1]"),
            Some(false)
        );
        assert_eq!(
            (&&FieldCompare::<HashSet<u32>>::new()).matches_stored_field(&set, "not json"),
            None
        );
        assert_eq!(
            (&&FieldCompare::<Opaque>::new()).matches_stored_field(&Opaque, "null"),
            None
        );
    }
}
