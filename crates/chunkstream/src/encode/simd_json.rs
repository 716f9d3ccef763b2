//! [`SimdJson`]: the simd-json serializer.


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

encoder!(SimdJson, |value, out| ::simd_json::serde::to_writer(out, value));
