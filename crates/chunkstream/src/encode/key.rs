//! The one map-key policy every encoder follows: serde_json's, as the [`encode`](super)
//! module docs list it. simd-json and sonic-rs each have rules of their own (simd-json
//! refuses `bool` keys, for one), so a key never reaches an encoder's own key serializer
//! as anything but a string: [`KeyText`] writes the key's text here, with serde_json's
//! rules, and hands the encoder a `&str`.

use std::cell::Cell;
use std::fmt::Display;

use serde::ser::{self, Serialize, Serializer};

use super::EncodeError;
use super::refuse::{no_compounds, refuse, refuse_compound, transparent};

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
            EncodeError::serialize(err)
        }
    }
}

/// Longest text of a number key: an `i128` takes 40 bytes, a float 24 at most.
const NUMBER_KEY_MAX: usize = 48;

/// Turns an accepted key into a string for the encoder's own key serializer (`inner`).
pub(crate) struct KeyText<'a, S> {
    inner: S,
    refusals: &'a Refusals,
}

fn not_a_string<E: ser::Error>() -> E {
    E::custom("key must be a string")
}

impl<'a, S: Serializer> KeyText<'a, S> {
    /// A key of any other shape than those a string is made from (serde_json's words,
    /// whatever the shape).
    fn refuse(&self, _found: &'static str) -> S::Error {
        not_a_string()
    }

    #[inline]
    pub(crate) fn new(inner: S, refusals: &'a Refusals) -> Self {
        KeyText { inner, refusals }
    }

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

/// Number keys: serde_json's text for the number; a non-finite float is refused.
macro_rules! number {
    ($($method:ident($ty:ty) $($finite:ident)?;)*) => {$(
        fn $method(self, v: $ty) -> Result<S::Ok, S::Error> {
            $(
                let _ = stringify!($finite);
                if !v.is_finite() {
                    return Err(self.refusals.non_finite());
                }
            )?
            self.number(v)
        }
    )*};
}

impl<S: Serializer> Serializer for KeyText<'_, S> {
    no_compounds!(S::Ok, S::Error);

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
    transparent!();
    number! {
        serialize_i8(i8);
        serialize_i16(i16);
        serialize_i32(i32);
        serialize_i64(i64);
        serialize_i128(i128);
        serialize_u8(u8);
        serialize_u16(u16);
        serialize_u32(u32);
        serialize_u64(u64);
        serialize_u128(u128);
        serialize_f32(f32) finite;
        serialize_f64(f64) finite;
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

    // Keys that cannot be a string, refused as serde_json refuses them.
    refuse! { refuse:
        serialize_none() -> S::Ok: "nothing (None)";
        serialize_unit() -> S::Ok: "nothing (unit)";
        serialize_unit_struct(&'static str) -> S::Ok: "a unit struct";
        serialize_bytes(&[u8]) -> S::Ok: "bytes";
    }
    refuse_compound!(refuse);
}
