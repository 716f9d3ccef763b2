//! A serializer adapter that refuses non-finite floats at any depth, and puts every
//! map key through the one key policy (see [`key`](super::key)).
//!
//! serde_json prints NaN and infinities as `null`, which silently changes the data; the
//! streamer wants an error naming the item instead. [`checked`] serializes a value
//! through [`Check`], which forwards every call to the real serializer except a
//! non-finite float (and a map key, which goes through [`KeyText`]). Everything is generic
//! and inlined, so the happy path costs one `is_finite` per float.
//!
//! A serializer's error type is the serializer's own, so the refusal cannot travel in it
//! as a type. It is recorded beside it instead, in a [`Refusals`] marker the encoder
//! reads when the serializer fails: no error text is ever matched.

use std::fmt::Display;

use serde::ser::{self, Serialize, Serializer};

use super::EncodeError;
use super::key::{KeyText, Refusals};

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

/// A value whose serialization refuses non-finite floats, recording the refusal; with
/// `KEY`, a map key, serialized as the string serde_json would write for it ([`KeyText`]).
pub(crate) struct Checked<'a, T: ?Sized, const KEY: bool> {
    value: &'a T,
    refusals: &'a Refusals,
}

impl<'a, T: ?Sized, const KEY: bool> Checked<'a, T, KEY> {
    #[inline]
    pub(crate) fn new(value: &'a T, refusals: &'a Refusals) -> Self {
        Checked { value, refusals }
    }
}

impl<T: Serialize + ?Sized, const KEY: bool> Serialize for Checked<'_, T, KEY> {
    #[inline]
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if KEY {
            self.value
                .serialize(KeyText::new(serializer, self.refusals))
        } else {
            self.value.serialize(Check {
                inner: serializer,
                refusals: self.refusals,
            })
        }
    }
}

/// A value, checked.
pub(crate) type Finite<'a, T> = Checked<'a, T, false>;
/// A map key, checked and put through the key policy.
type Key<'a, T> = Checked<'a, T, true>;

/// Forwards to the wrapped serializer (or compound serializer), checking floats and
/// putting map keys through [`Key`].
///
/// Every forwarding method is `#[inline]`: without the hint a struct's fields went
/// through an out-of-line call each, which cost serde_json 3-5% on tickets.
struct Check<'a, S> {
    inner: S,
    refusals: &'a Refusals,
}

/// Methods that hand their argument on unchanged.
macro_rules! forward {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {$(
        #[inline]
        fn $method(self, $($arg: $ty),*) -> Result<S::Ok, S::Error> {
            self.inner.$method($($arg),*)
        }
    )*};
}

/// Methods that hand their value on through the checks.
macro_rules! forward_value {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {$(
        #[inline]
        fn $method<T: Serialize + ?Sized>(self, $($arg: $ty,)* value: &T) -> Result<S::Ok, S::Error> {
            self.inner.$method($($arg,)* &Finite::new(value, self.refusals))
        }
    )*};
}

/// Methods that start a compound value, whose elements go through the checks.
macro_rules! forward_compound {
    ($($method:ident($($arg:ident: $ty:ty),*) -> $out:ident;)*) => {$(
        #[inline]
        fn $method(self, $($arg: $ty),*) -> Result<Self::$out, S::Error> {
            let refusals = self.refusals;
            self.inner.$method($($arg),*).map(|inner| Check { inner, refusals })
        }
    )*};
}

/// Float methods: a non-finite float is refused.
macro_rules! forward_float {
    ($($method:ident($ty:ty);)*) => {$(
        #[inline]
        fn $method(self, v: $ty) -> Result<S::Ok, S::Error> {
            if v.is_finite() {
                self.inner.$method(v)
            } else {
                Err(self.refusals.non_finite())
            }
        }
    )*};
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

    forward! {
        serialize_bool(v: bool);
        serialize_i8(v: i8);
        serialize_i16(v: i16);
        serialize_i32(v: i32);
        serialize_i64(v: i64);
        serialize_i128(v: i128);
        serialize_u8(v: u8);
        serialize_u16(v: u16);
        serialize_u32(v: u32);
        serialize_u64(v: u64);
        serialize_u128(v: u128);
        serialize_char(v: char);
        serialize_str(v: &str);
        serialize_bytes(v: &[u8]);
        serialize_none();
        serialize_unit();
        serialize_unit_struct(name: &'static str);
        serialize_unit_variant(name: &'static str, index: u32, variant: &'static str);
    }

    forward_float! {
        serialize_f32(f32);
        serialize_f64(f64);
    }

    forward_value! {
        serialize_some();
        serialize_newtype_struct(name: &'static str);
        serialize_newtype_variant(name: &'static str, index: u32, variant: &'static str);
    }

    forward_compound! {
        serialize_seq(len: Option<usize>) -> SerializeSeq;
        serialize_tuple(len: usize) -> SerializeTuple;
        serialize_tuple_struct(name: &'static str, len: usize) -> SerializeTupleStruct;
        serialize_tuple_variant(name: &'static str, index: u32, variant: &'static str, len: usize) -> SerializeTupleVariant;
        serialize_map(len: Option<usize>) -> SerializeMap;
        serialize_struct(name: &'static str, len: usize) -> SerializeStruct;
        serialize_struct_variant(name: &'static str, index: u32, variant: &'static str, len: usize) -> SerializeStructVariant;
    }

    fn collect_str<T: Display + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        self.inner.collect_str(value)
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

/// The compound serializers: each element (and field) goes through the checks; a
/// struct's fields may be skipped.
macro_rules! compound {
    ($($trait:ident::$method:ident($($key:ident)?);)*) => {$(
        impl<S: ser::$trait> ser::$trait for Check<'_, S> {
            type Ok = S::Ok;
            type Error = S::Error;

            #[inline]
            fn $method<T: Serialize + ?Sized>(
                &mut self,
                $($key: &'static str,)?
                value: &T,
            ) -> Result<(), S::Error> {
                self.inner.$method($($key,)? &Finite::new(value, self.refusals))
            }

            $(
                fn skip_field(&mut self, $key: &'static str) -> Result<(), S::Error> {
                    self.inner.skip_field($key)
                }
            )?

            #[inline]
            fn end(self) -> Result<S::Ok, S::Error> {
                self.inner.end()
            }
        }
    )*};
}

compound! {
    SerializeSeq::serialize_element();
    SerializeTuple::serialize_element();
    SerializeTupleStruct::serialize_field();
    SerializeTupleVariant::serialize_field();
    SerializeStruct::serialize_field(key);
    SerializeStructVariant::serialize_field(key);
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
