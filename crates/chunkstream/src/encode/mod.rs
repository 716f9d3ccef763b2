//! Encoders: how one value becomes JSON bytes appended to a buffer.
//!
//! An [`Encoder`] only serializes; framing (`[`, `,`, `]` or newlines) belongs to
//! [`Format`](crate::Format), so any encoder works with any format.
//!
//! serde_json is the reference, and every encoder accepts and refuses exactly the items
//! it does, with two rules of this crate's own on top:
//!
//! - **Non-finite floats** (NaN, infinities) are refused at any depth, as
//!   [`EncodeError::NonFiniteFloat`] (serde_json alone would silently print `null`).
//! - **Map keys** follow serde_json's rules, applied by this crate before the encoder
//!   sees the key, so the encoders cannot differ: a string or `char` key is itself; a
//!   `bool` key becomes `"true"` or `"false"`; an integer key (`i8` to `i128`, `u8` to
//!   `u128`) its decimal digits; a finite float key the digits serde_json writes for it;
//!   a unit enum variant its name; a newtype struct or `Some` the key inside. Any other
//!   key (unit, `None`, unit struct, bytes, sequence, tuple, map, struct, or a newtype,
//!   tuple or struct variant) is refused as [`EncodeError::Serialize`], and a
//!   non-finite float key as [`EncodeError::NonFiniteFloat`].
//!
//! ```
//! use std::collections::BTreeMap;
//! use chunkstream::{Encoder, encode::SerdeJson};
//!
//! let mut out = Vec::new();
//! SerdeJson.encode(&BTreeMap::from([(true, 1)]), &mut out).unwrap();
//! SerdeJson.encode(&BTreeMap::from([(-7_i64, 'x')]), &mut out).unwrap();
//! assert_eq!(out, br#"{"true":1}{"-7":"x"}"#);
//! assert!(SerdeJson.encode(&BTreeMap::from([((1, 2), 3)]), &mut out).is_err());
//! ```
//!
//! sonic-rs writes byte-identical output; simd-json does not (it prints `1e21` for
//! serde_json's `1e+21`, and f32 values with f64 digits), so compare encoders by parsing
//! their output back, not by bytes. Map keys are the exception: they are written by the
//! rules above, so they are the same text with every encoder.

/// The [`Encoder`] impl of a serializer: `$write` writes the checked `$value` to `$out`.
macro_rules! encoder {
    ($encoder:ty, |$value:ident, $out:ident| $write:expr) => {
        impl $crate::Encoder for $encoder {
            #[inline]
            fn encode<T: ::serde::Serialize + ?Sized>(
                &self,
                value: &T,
                $out: &mut Vec<u8>,
            ) -> Result<(), $crate::EncodeError> {
                $crate::encode::finite::checked(value, |$value| $write)
            }
        }
    };
}

mod error;
mod finite;
mod key;
pub(crate) mod refuse;

pub use self::error::EncodeError;
pub use crate::raw::InvalidJson;

/// serde_json's compact serializer. The reference every other encoder is checked against.
/// The [`DefaultEncoder`] when neither `encoder-sonic-rs` (a default feature) nor
/// `encoder-simd-json` is enabled.
#[derive(Clone, Copy, Debug, Default)]
pub struct SerdeJson;

encoder!(SerdeJson, |value, out| value
    .serialize(&mut serde_json::Serializer::new(out)));

cfg_feature! { "encoder-simd-json",
    /// simd-json's compact serializer (`simd_json::serde::to_writer`).
    ///
    /// Its output is valid JSON equal in value to serde_json's, but not byte for byte: it
    /// prints `1e21` where serde_json prints `1e+21`, and an `f32` with the digits of its
    /// `f64` widening. Compare its output with the reference by parsing it back.
    ///
    /// # Examples
    ///
    /// ```
    /// use chunkstream::{Encoder, encode::SimdJson};
    ///
    /// let mut out = Vec::new();
    /// SimdJson.encode(&("a", 1), &mut out).unwrap();
    /// assert_eq!(out, br#"["a",1]"#);
    /// assert!(SimdJson.encode(&f64::NAN, &mut out).is_err());
    /// ```
    #[derive(Clone, Copy, Debug, Default)]
    pub struct SimdJson;
}

#[cfg(feature = "encoder-simd-json")]
encoder!(SimdJson, |value, out| ::simd_json::serde::to_writer(
    out, value
));

cfg_feature! { "encoder-sonic-rs",
    /// sonic-rs's compact serializer (`sonic_rs::Serializer`, writing through its own
    /// `WriteExt` straight into the pooled `Vec<u8>`). Its output is byte-identical to
    /// serde_json's for the values this crate accepts.
    ///
    /// # Examples
    ///
    /// ```
    /// use chunkstream::{Encoder, encode::SonicRs};
    ///
    /// let mut out = Vec::new();
    /// SonicRs.encode(&("a", 1), &mut out).unwrap();
    /// assert_eq!(out, br#"["a",1]"#);
    /// assert!(SonicRs.encode(&f64::INFINITY, &mut out).is_err());
    /// ```
    #[derive(Clone, Copy, Debug, Default)]
    pub struct SonicRs;
}

#[cfg(feature = "encoder-sonic-rs")]
encoder!(SonicRs, |value, out| value
    .serialize(&mut ::sonic_rs::Serializer::new(out)));

// Precedence, first enabled wins.
#[cfg(feature = "encoder-sonic-rs")]
type Selected = self::SonicRs;
#[cfg(all(feature = "encoder-simd-json", not(feature = "encoder-sonic-rs")))]
type Selected = self::SimdJson;
#[cfg(not(any(feature = "encoder-simd-json", feature = "encoder-sonic-rs")))]
type Selected = self::SerdeJson;

/// The encoder selected by the enabled features: `SonicRs` with `encoder-sonic-rs` (the
/// default), else `SimdJson` with `encoder-simd-json`, else `SerdeJson`.
pub type DefaultEncoder = Selected;

use serde::Serialize;

/// Serializes one value as JSON, appending to a buffer.
///
/// On error the buffer may hold a partial value; callers truncate it back (the streamer
/// does).
///
/// # Examples
///
/// ```
/// use chunkstream::{Encoder, encode::SerdeJson};
///
/// let mut out = Vec::new();
/// SerdeJson.encode(&[1, 2], &mut out).unwrap();
/// assert_eq!(out, b"[1,2]");
/// assert!(SerdeJson.encode(&f64::NAN, &mut out).is_err());
/// ```
pub trait Encoder: Clone + Send + Sync + 'static {
    /// Appends the JSON of `value` to `out`.
    ///
    /// # Errors
    ///
    /// [`EncodeError`] when the value cannot be JSON: a non-finite float, a map key that
    /// cannot be a JSON key (see the [module docs](self) for which can), or an error from
    /// the value's `Serialize` implementation.
    fn encode<T: Serialize + ?Sized>(
        &self,
        value: &T,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError>;
}
