//! [`SerdeJson`]: the reference encoder.

use serde::Serialize;

use super::{EncodeError, Encoder, checked};

/// serde_json's compact serializer. The reference every other encoder is checked against.
/// This is the default encoder.
#[derive(Clone, Copy, Debug, Default)]
pub struct SerdeJson;

impl Encoder for SerdeJson {
    #[inline]
    fn encode<T: Serialize + ?Sized>(
        &self,
        value: &T,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        let mut serializer = serde_json::Serializer::new(out);
        checked(value, |value| value.serialize(&mut serializer))
    }
}
