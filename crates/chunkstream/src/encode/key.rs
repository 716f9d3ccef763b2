//! The one map-key policy every encoder follows: serde_json's.
//!
//! JSON object keys are strings. serde_json, the reference, turns some other keys into
//! strings and refuses the rest; simd-json and sonic-rs each have rules of their own
//! (simd-json refuses `bool` keys, for one). So that every encoder accepts and refuses
//! exactly the same items, a key never reaches an encoder's own key serializer as
//! anything but a string: [`Key`] writes the key's text here, with serde_json's rules,
//! and hands the encoder a `&str`.
//!
//! | key | written as |
//! | --- | --- |
//! | string, `char` | itself |
//! | `bool` | `"true"`, `"false"` |
//! | integer, `i8` to `i128`, `u8` to `u128` | its decimal digits, `"-7"` |
//! | finite `f32`, `f64` | serde_json's digits for it, `"1.5"`, `"1e21"` |
//! | unit variant of an enum | the variant's name |
//! | newtype struct, `Some` | the key inside |
//!
//! Anything else (a unit, `None`, a unit struct, bytes, a sequence, a tuple, a map, a
//! struct, a newtype, tuple or struct variant) is refused, as serde_json refuses it; a
//! non-finite float key is refused as a non-finite float.

use std::cell::Cell;
use std::fmt::Display;

use serde::ser::{self, Impossible, Serialize, Serializer};

use super::EncodeError;

/// What the checks refused during one `encode`: the typed marker an [`EncodeError`] is
/// built from.
#[derive(Debug, Default)]
pub(crate) struct Refusals {
    non_finite: Cell<bool>,
}

impl Refusals {
    /// Records a non-finite float and returns the serializer error that stops the
    /// serialization (its text is for the serializer's sake only).
    #[cold]
    pub(crate) fn non_finite<E: ser::Error>(&self) -> E {
        self.non_finite.set(true);
        E::custom("non-finite float")
    }

    /// The error for a serializer that failed: a recorded refusal if there is one, else
    /// the serializer's own error.
    #[cold]
    pub(crate) fn error<E: std::error::Error + Send + Sync + 'static>(
        &self,
        err: E,
    ) -> EncodeError {
        if self.non_finite.get() {
            EncodeError::NonFiniteFloat
        } else {
            EncodeError::Serialize(Box::new(err))
        }
    }
}

/// Longest text of a number key: an `i128` takes 40 bytes, a float 24 at most.
const NUMBER_KEY_MAX: usize = 48;

/// A map key, serialized as the string serde_json would write for it.
pub(crate) struct Key<'a, T: ?Sized> {
    key: &'a T,
    refusals: &'a Refusals,
}

impl<'a, T: ?Sized> Key<'a, T> {
    #[inline]
    pub(crate) fn new(key: &'a T, refusals: &'a Refusals) -> Self {
        Key { key, refusals }
    }
}

impl<T: Serialize + ?Sized> Serialize for Key<'_, T> {
    #[inline]
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.key.serialize(KeyText {
            inner: serializer,
            refusals: self.refusals,
        })
    }
}

/// Turns an accepted key into a string for the encoder's own key serializer (`inner`).
struct KeyText<'a, S> {
    inner: S,
    refusals: &'a Refusals,
}

fn not_a_string<E: ser::Error>() -> E {
    E::custom("key must be a string")
}

impl<S: Serializer> KeyText<'_, S> {
    /// A number key: serde_json's own text for the number (so a float key reads exactly
    /// as serde_json writes it), as a string.
    fn number<N: Serialize>(self, number: N) -> Result<S::Ok, S::Error> {
        let mut text = [0_u8; NUMBER_KEY_MAX];
        let len = {
            let mut rest = &mut text[..];
            serde_json::to_writer(&mut rest, &number).map_err(ser::Error::custom)?;
            NUMBER_KEY_MAX - rest.len()
        };
        let text = std::str::from_utf8(&text[..len]).map_err(ser::Error::custom)?;
        self.inner.serialize_str(text)
    }
}

impl<S: Serializer> Serializer for KeyText<'_, S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Impossible<S::Ok, S::Error>;
    type SerializeTuple = Impossible<S::Ok, S::Error>;
    type SerializeTupleStruct = Impossible<S::Ok, S::Error>;
    type SerializeTupleVariant = Impossible<S::Ok, S::Error>;
    type SerializeMap = Impossible<S::Ok, S::Error>;
    type SerializeStruct = Impossible<S::Ok, S::Error>;
    type SerializeStructVariant = Impossible<S::Ok, S::Error>;

    #[inline]
    fn serialize_str(self, v: &str) -> Result<S::Ok, S::Error> {
        self.inner.serialize_str(v)
    }
    fn serialize_char(self, v: char) -> Result<S::Ok, S::Error> {
        self.inner.serialize_str(v.encode_utf8(&mut [0_u8; 4]))
    }
    fn serialize_bool(self, v: bool) -> Result<S::Ok, S::Error> {
        self.inner.serialize_str(if v { "true" } else { "false" })
    }
    fn serialize_i8(self, v: i8) -> Result<S::Ok, S::Error> {
        self.number(v)
    }
    fn serialize_i16(self, v: i16) -> Result<S::Ok, S::Error> {
        self.number(v)
    }
    fn serialize_i32(self, v: i32) -> Result<S::Ok, S::Error> {
        self.number(v)
    }
    fn serialize_i64(self, v: i64) -> Result<S::Ok, S::Error> {
        self.number(v)
    }
    fn serialize_i128(self, v: i128) -> Result<S::Ok, S::Error> {
        self.number(v)
    }
    fn serialize_u8(self, v: u8) -> Result<S::Ok, S::Error> {
        self.number(v)
    }
    fn serialize_u16(self, v: u16) -> Result<S::Ok, S::Error> {
        self.number(v)
    }
    fn serialize_u32(self, v: u32) -> Result<S::Ok, S::Error> {
        self.number(v)
    }
    fn serialize_u64(self, v: u64) -> Result<S::Ok, S::Error> {
        self.number(v)
    }
    fn serialize_u128(self, v: u128) -> Result<S::Ok, S::Error> {
        self.number(v)
    }
    fn serialize_f32(self, v: f32) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            self.number(v)
        } else {
            Err(self.refusals.non_finite())
        }
    }
    fn serialize_f64(self, v: f64) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            self.number(v)
        } else {
            Err(self.refusals.non_finite())
        }
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<S::Ok, S::Error> {
        self.inner.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        value.serialize(self)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        value.serialize(self)
    }
    fn collect_str<T: Display + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        let mut text = String::new();
        // Writing to a String only fails if `value`'s `Display` does.
        std::fmt::Write::write_fmt(&mut text, format_args!("{value}"))
            .map_err(ser::Error::custom)?;
        self.inner.serialize_str(&text)
    }
    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }

    fn serialize_none(self) -> Result<S::Ok, S::Error> {
        Err(not_a_string())
    }
    fn serialize_unit(self) -> Result<S::Ok, S::Error> {
        Err(not_a_string())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<S::Ok, S::Error> {
        Err(not_a_string())
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<S::Ok, S::Error> {
        Err(not_a_string())
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<S::Ok, S::Error> {
        Err(not_a_string())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        Err(not_a_string())
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, S::Error> {
        Err(not_a_string())
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, S::Error> {
        Err(not_a_string())
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        Err(not_a_string())
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        Err(not_a_string())
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, S::Error> {
        Err(not_a_string())
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        Err(not_a_string())
    }
}
