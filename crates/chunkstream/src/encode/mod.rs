//! Encoders: how one value becomes JSON bytes appended to a buffer.
//!
//! An [`Encoder`] only serializes; framing (`[`, `,`, `]` or newlines) belongs to
//! [`Format`](crate::Format), so any encoder works with any format. Every encoder refuses
//! non-finite floats (serde_json would silently print `null`) and maps with non-string
//! keys, with an [`EncodeError`].
//!
//! serde_json is the reference. sonic-rs writes byte-identical output; simd-json does
//! not (it prints `1e21` for serde_json's `1e+21`, and f32 values with f64 digits), so
//! compare encoders by parsing their output back, not by bytes.

mod error;
mod finite;
mod serde_json;

pub use self::error::EncodeError;
pub use self::serde_json::SerdeJson;

cfg_encoder_simd_json! {
    mod simd_json;
    pub use self::simd_json::SimdJson;
}

cfg_encoder_sonic_rs! {
    mod sonic_rs;
    pub use self::sonic_rs::SonicRs;
}

pub use crate::defaults::DefaultEncoder;

pub(crate) use finite::Finite;

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
    /// is not a string, or an error from the value's `Serialize` implementation.
    fn encode<T: Serialize + ?Sized>(
        &self,
        value: &T,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError>;

    /// A short name for reports ("serde_json", "simd-json", "sonic-rs").
    fn name(&self) -> &'static str;
}
