//! [`SonicRs`]: the sonic-rs serializer.

use serde::Serialize;


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

encoder!(SonicRs, |value, out| value.serialize(&mut ::sonic_rs::Serializer::new(out)));
