//! [`SerdeJson`]: the reference encoder.

use serde::Serialize;

/// serde_json's compact serializer. The reference every other encoder is checked against.
/// The [`DefaultEncoder`](super::DefaultEncoder) when neither `encoder-sonic-rs` (a
/// default feature) nor `encoder-simd-json` is enabled.
#[derive(Clone, Copy, Debug, Default)]
pub struct SerdeJson;

encoder!(SerdeJson, |value, out| value
    .serialize(&mut serde_json::Serializer::new(out)));
