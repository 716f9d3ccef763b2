//! [`Item`]: what an item is, chosen by its type: a `Serialize` value goes through the
//! encoder, a trusted [`RawJson`] is copied as it is, a [`Validated`] one is checked
//! first. Every method and path takes any of them.

use serde::Serialize;

use crate::encode::{EncodeError, Encoder};
use crate::format::Format;
use crate::raw::{RawJson, Validated};

/// A value the chunk writer can write between the framing. Implemented for every
/// `Serialize` type, for [`RawJson`] and for [`Validated`].
pub trait Item {
    /// Appends the item's JSON to `out` (the framing is written around it). On error
    /// `out` may hold part of it; the writer truncates it back.
    ///
    /// # Errors
    ///
    /// The [`EncodeError`] that refuses the item.
    fn write_json<E: Encoder, F: Format>(
        &self,
        encoder: &E,
        format: &F,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError>;
}

impl<T: Serialize> Item for T {
    #[inline]
    fn write_json<E: Encoder, F: Format>(
        &self,
        encoder: &E,
        _format: &F,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        encoder.encode(self, out)
    }
}

impl Item for RawJson {
    #[inline]
    fn write_json<E: Encoder, F: Format>(
        &self,
        _encoder: &E,
        _format: &F,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        out.extend_from_slice(self.as_bytes());
        Ok(())
    }
}

impl Item for Validated {
    #[inline]
    fn write_json<E: Encoder, F: Format>(
        &self,
        encoder: &E,
        format: &F,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        let json = &self.0;
        json.validate()
            .and_then(|()| format.check_raw(json.as_bytes()))
            .map_err(EncodeError::InvalidJson)?;
        json.write_json(encoder, format, out)
    }
}
