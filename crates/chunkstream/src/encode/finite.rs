//! A serializer adapter that refuses non-finite floats at any depth, and puts every
//! map key through the one key policy (see [`key`](super::key)).
//!
//! serde_json prints NaN and infinities as `null`, which silently changes the data; the
//! streamer wants an error naming the item instead. [`checked`] serializes a value
//! through [`Check`], which forwards every call to the real serializer except a
//! non-finite float (and a map key, which goes through [`Key`]). Everything is generic
//! and inlined, so the happy path costs one `is_finite` per float.
//!
//! A serializer's error type is the serializer's own, so the refusal cannot travel in it
//! as a type. It is recorded beside it instead, in a [`Refusals`] marker the encoder
//! reads when the serializer fails: no error text is ever matched.

use std::fmt::Display;

use serde::ser::{self, Serialize, Serializer};

use super::EncodeError;
use super::key::{Key, Refusals};

/// Serializes `value` with `serialize`, through the checks.
///
/// `serialize` is handed the value wrapped so that its serialization, and that of
/// everything nested in it, goes through [`Check`].
#[inline]
pub(crate) fn checked<T, E, F>(value: &T, serialize: F) -> Result<(), EncodeError>
where
    T: Serialize + ?Sized,
    E: std::error::Error + Send + Sync + 'static,
    F: FnOnce(&Finite<'_, T>) -> Result<(), E>,
{
    let refusals = Refusals::default();
    serialize(&Finite::new(value, &refusals)).map_err(|err| refusals.error(err))
}

/// A value whose serialization refuses non-finite floats, recording the refusal.
pub(crate) struct Finite<'a, T: ?Sized> {
    value: &'a T,
    refusals: &'a Refusals,
}

impl<'a, T: ?Sized> Finite<'a, T> {
    #[inline]
    pub(crate) fn new(value: &'a T, refusals: &'a Refusals) -> Self {
        Finite { value, refusals }
    }
}

impl<T: Serialize + ?Sized> Serialize for Finite<'_, T> {
    #[inline]
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(Check {
            inner: serializer,
            refusals: self.refusals,
        })
    }
}

/// Forwards to the wrapped serializer (or compound serializer), checking floats and
/// putting map keys through [`Key`].
struct Check<'a, S> {
    inner: S,
    refusals: &'a Refusals,
}

impl<'a, S: Serializer> Serializer for Check<'a, S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Check<'a, S::SerializeSeq>;
    type SerializeTuple = Check<'a, S::SerializeTuple>;
    type SerializeTupleStruct = Check<'a, S::SerializeTupleStruct>;
    type SerializeTupleVariant = Check<'a, S::SerializeTupleVariant>;
    type SerializeMap = Check<'a, S::SerializeMap>;
    type SerializeStruct = Check<'a, S::SerializeStruct>;
    type SerializeStructVariant = Check<'a, S::SerializeStructVariant>;

    fn serialize_bool(self, v: bool) -> Result<S::Ok, S::Error> {
        self.inner.serialize_bool(v)
    }
    fn serialize_i8(self, v: i8) -> Result<S::Ok, S::Error> {
        self.inner.serialize_i8(v)
    }
    fn serialize_i16(self, v: i16) -> Result<S::Ok, S::Error> {
        self.inner.serialize_i16(v)
    }
    fn serialize_i32(self, v: i32) -> Result<S::Ok, S::Error> {
        self.inner.serialize_i32(v)
    }
    fn serialize_i64(self, v: i64) -> Result<S::Ok, S::Error> {
        self.inner.serialize_i64(v)
    }
    fn serialize_i128(self, v: i128) -> Result<S::Ok, S::Error> {
        self.inner.serialize_i128(v)
    }
    fn serialize_u8(self, v: u8) -> Result<S::Ok, S::Error> {
        self.inner.serialize_u8(v)
    }
    fn serialize_u16(self, v: u16) -> Result<S::Ok, S::Error> {
        self.inner.serialize_u16(v)
    }
    fn serialize_u32(self, v: u32) -> Result<S::Ok, S::Error> {
        self.inner.serialize_u32(v)
    }
    fn serialize_u64(self, v: u64) -> Result<S::Ok, S::Error> {
        self.inner.serialize_u64(v)
    }
    fn serialize_u128(self, v: u128) -> Result<S::Ok, S::Error> {
        self.inner.serialize_u128(v)
    }
    fn serialize_char(self, v: char) -> Result<S::Ok, S::Error> {
        self.inner.serialize_char(v)
    }

    fn serialize_f32(self, v: f32) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            self.inner.serialize_f32(v)
        } else {
            Err(self.refusals.non_finite())
        }
    }

    fn serialize_f64(self, v: f64) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            self.inner.serialize_f64(v)
        } else {
            Err(self.refusals.non_finite())
        }
    }

    fn serialize_str(self, v: &str) -> Result<S::Ok, S::Error> {
        self.inner.serialize_str(v)
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<S::Ok, S::Error> {
        self.inner.serialize_bytes(v)
    }

    fn serialize_none(self) -> Result<S::Ok, S::Error> {
        self.inner.serialize_none()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        self.inner
            .serialize_some(&Finite::new(value, self.refusals))
    }

    fn serialize_unit(self) -> Result<S::Ok, S::Error> {
        self.inner.serialize_unit()
    }

    fn serialize_unit_struct(self, name: &'static str) -> Result<S::Ok, S::Error> {
        self.inner.serialize_unit_struct(name)
    }

    fn serialize_unit_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
    ) -> Result<S::Ok, S::Error> {
        self.inner.serialize_unit_variant(name, index, variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        self.inner
            .serialize_newtype_struct(name, &Finite::new(value, self.refusals))
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        self.inner.serialize_newtype_variant(
            name,
            index,
            variant,
            &Finite::new(value, self.refusals),
        )
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        let refusals = self.refusals;
        self.inner
            .serialize_seq(len)
            .map(|inner| Check { inner, refusals })
    }

    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple, S::Error> {
        let refusals = self.refusals;
        self.inner
            .serialize_tuple(len)
            .map(|inner| Check { inner, refusals })
    }

    fn serialize_tuple_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleStruct, S::Error> {
        let refusals = self.refusals;
        self.inner
            .serialize_tuple_struct(name, len)
            .map(|inner| Check { inner, refusals })
    }

    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        let refusals = self.refusals;
        self.inner
            .serialize_tuple_variant(name, index, variant, len)
            .map(|inner| Check { inner, refusals })
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        let refusals = self.refusals;
        self.inner
            .serialize_map(len)
            .map(|inner| Check { inner, refusals })
    }

    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStruct, S::Error> {
        let refusals = self.refusals;
        self.inner
            .serialize_struct(name, len)
            .map(|inner| Check { inner, refusals })
    }

    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        let refusals = self.refusals;
        self.inner
            .serialize_struct_variant(name, index, variant, len)
            .map(|inner| Check { inner, refusals })
    }

    fn collect_str<T: Display + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        self.inner.collect_str(value)
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

impl<S: ser::SerializeSeq> ser::SerializeSeq for Check<'_, S> {
    type Ok = S::Ok;
    type Error = S::Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), S::Error> {
        self.inner
            .serialize_element(&Finite::new(value, self.refusals))
    }

    fn end(self) -> Result<S::Ok, S::Error> {
        self.inner.end()
    }
}

impl<S: ser::SerializeTuple> ser::SerializeTuple for Check<'_, S> {
    type Ok = S::Ok;
    type Error = S::Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), S::Error> {
        self.inner
            .serialize_element(&Finite::new(value, self.refusals))
    }

    fn end(self) -> Result<S::Ok, S::Error> {
        self.inner.end()
    }
}

impl<S: ser::SerializeTupleStruct> ser::SerializeTupleStruct for Check<'_, S> {
    type Ok = S::Ok;
    type Error = S::Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), S::Error> {
        self.inner
            .serialize_field(&Finite::new(value, self.refusals))
    }

    fn end(self) -> Result<S::Ok, S::Error> {
        self.inner.end()
    }
}

impl<S: ser::SerializeTupleVariant> ser::SerializeTupleVariant for Check<'_, S> {
    type Ok = S::Ok;
    type Error = S::Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), S::Error> {
        self.inner
            .serialize_field(&Finite::new(value, self.refusals))
    }

    fn end(self) -> Result<S::Ok, S::Error> {
        self.inner.end()
    }
}

impl<S: ser::SerializeMap> ser::SerializeMap for Check<'_, S> {
    type Ok = S::Ok;
    type Error = S::Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), S::Error> {
        self.inner.serialize_key(&Key::new(key, self.refusals))
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), S::Error> {
        self.inner
            .serialize_value(&Finite::new(value, self.refusals))
    }

    fn serialize_entry<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &mut self,
        key: &K,
        value: &V,
    ) -> Result<(), S::Error> {
        self.inner.serialize_entry(
            &Key::new(key, self.refusals),
            &Finite::new(value, self.refusals),
        )
    }

    fn end(self) -> Result<S::Ok, S::Error> {
        self.inner.end()
    }
}

impl<S: ser::SerializeStruct> ser::SerializeStruct for Check<'_, S> {
    type Ok = S::Ok;
    type Error = S::Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), S::Error> {
        self.inner
            .serialize_field(key, &Finite::new(value, self.refusals))
    }

    fn skip_field(&mut self, key: &'static str) -> Result<(), S::Error> {
        self.inner.skip_field(key)
    }

    fn end(self) -> Result<S::Ok, S::Error> {
        self.inner.end()
    }
}

impl<S: ser::SerializeStructVariant> ser::SerializeStructVariant for Check<'_, S> {
    type Ok = S::Ok;
    type Error = S::Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), S::Error> {
        self.inner
            .serialize_field(key, &Finite::new(value, self.refusals))
    }

    fn skip_field(&mut self, key: &'static str) -> Result<(), S::Error> {
        self.inner.skip_field(key)
    }

    fn end(self) -> Result<S::Ok, S::Error> {
        self.inner.end()
    }
}
