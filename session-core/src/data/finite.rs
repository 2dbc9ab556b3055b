//! Finds NaN and infinite floats in a value before it is stored: JSON has no
//! such numbers, serde_json writes them as `null`, and that `null` either
//! fails to decode (the whole session then reads as invalid) or reads back
//! as `None` (an `Option<f64>`). A walk over the value through serde, with
//! nothing written, so it costs no allocation.

use std::fmt;

use serde::Serialize;
use serde::ser;

/// Whether `value` holds a NaN or infinite `f32`/`f64` anywhere.
pub(crate) fn holds_non_finite<V: Serialize + ?Sized>(value: &V) -> bool {
    matches!(value.serialize(Probe), Err(Found::NonFinite))
}

/// Walks a value; fails with [`Found::NonFinite`] at the first such float.
struct Probe;

/// What a [`Probe`] walk stopped at.
#[derive(Debug)]
enum Found {
    /// A NaN or infinite float.
    NonFinite,
    /// The value's own `Serialize` failed; encoding reports that.
    Other,
}

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("non-finite float")
    }
}

impl std::error::Error for Found {}

impl ser::Error for Found {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Found::Other
    }
}

fn float(finite: bool) -> Result<(), Found> {
    if finite {
        Ok(())
    } else {
        Err(Found::NonFinite)
    }
}

macro_rules! scalars {
    ($($method:ident: $ty:ty),*) => {$(
        fn $method(self, _: $ty) -> Result<(), Found> {
            Ok(())
        }
    )*};
}

impl ser::Serializer for Probe {
    type Ok = ();
    type Error = Found;
    type SerializeSeq = Probe;
    type SerializeTuple = Probe;
    type SerializeTupleStruct = Probe;
    type SerializeTupleVariant = Probe;
    type SerializeMap = Probe;
    type SerializeStruct = Probe;
    type SerializeStructVariant = Probe;

    scalars!(
        serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32,
        serialize_i64: i64, serialize_i128: i128, serialize_u8: u8, serialize_u16: u16,
        serialize_u32: u32, serialize_u64: u64, serialize_u128: u128, serialize_char: char,
        serialize_str: &str, serialize_bytes: &[u8], serialize_unit_struct: &'static str
    );

    fn serialize_f32(self, v: f32) -> Result<(), Found> {
        float(v.is_finite())
    }
    fn serialize_f64(self, v: f64) -> Result<(), Found> {
        float(v.is_finite())
    }
    fn serialize_none(self) -> Result<(), Found> {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Found> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Found> {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, _: &'static str) -> Result<(), Found> {
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Found> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        value: &T,
    ) -> Result<(), Found> {
        value.serialize(self)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Probe, Found> {
        Ok(Probe)
    }
    fn serialize_tuple(self, _: usize) -> Result<Probe, Found> {
        Ok(Probe)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Probe, Found> {
        Ok(Probe)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Probe, Found> {
        Ok(Probe)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Probe, Found> {
        Ok(Probe)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Probe, Found> {
        Ok(Probe)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Probe, Found> {
        Ok(Probe)
    }
    fn collect_str<T: fmt::Display + ?Sized>(self, _: &T) -> Result<(), Found> {
        Ok(())
    }
}

/// One impl per compound trait: each element is walked in turn.
macro_rules! compound {
    ($($trait:ident { $($method:ident($($arg:ident: $ty:ty),*)),* }),*) => {$(
        impl ser::$trait for Probe {
            type Ok = ();
            type Error = Found;
            $(
                fn $method<T: Serialize + ?Sized>(&mut self, $($arg: $ty,)* value: &T) -> Result<(), Found> {
                    let _ = ($($arg,)*);
                    value.serialize(Probe)
                }
            )*
            fn end(self) -> Result<(), Found> {
                Ok(())
            }
        }
    )*};
}

compound!(
    SerializeSeq { serialize_element() },
    SerializeTuple { serialize_element() },
    SerializeTupleStruct { serialize_field() },
    SerializeTupleVariant { serialize_field() },
    SerializeStruct { serialize_field(key: &'static str) },
    SerializeStructVariant { serialize_field(key: &'static str) }
);

impl ser::SerializeMap for Probe {
    type Ok = ();
    type Error = Found;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Found> {
        key.serialize(Probe)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Found> {
        value.serialize(Probe)
    }
    fn end(self) -> Result<(), Found> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashSet};

    use super::holds_non_finite;

    #[test]
    fn finds_non_finite_floats_wherever_they_are() {
        assert!(holds_non_finite(&f64::NAN));
        assert!(holds_non_finite(&Some(f32::INFINITY)));
        assert!(holds_non_finite(&vec![1.0, f64::NEG_INFINITY]));
        assert!(holds_non_finite(&BTreeMap::from([("a", (1, f64::NAN))])));
        assert!(!holds_non_finite(&Some(1.5f64)));
        assert!(!holds_non_finite(&None::<f64>));
        assert!(!holds_non_finite(&(
            "null",
            vec![0.1f64],
            HashSet::from([3u8])
        )));
    }
}
