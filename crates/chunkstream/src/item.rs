//! [`Item`]: what an item is, chosen by its type.

use serde::Serialize;

use crate::encode::{EncodeError, Encoder};
use crate::format::Format;
use crate::raw::{RawJson, Validated};

/// A value the chunk writer can write between the framing: a `Serialize` value goes to
/// the format's [`write_value`](Format::write_value) (the encoder, for the JSON formats),
/// a trusted [`RawJson`] to its [`write_raw`](Format::write_raw), a [`Validated`] one
/// there too once checked. Every method and path takes any of them.
pub trait Item {
    /// Writes the item through `format` (which writes its own framing around it, and
    /// calls `encoder` for JSON). On error `out` may hold part of it; the writer
    /// truncates it back.
    ///
    /// # Errors
    ///
    /// The [`EncodeError`] that refuses the item.
    fn write<E: Encoder, F: Format>(
        &self,
        encoder: &E,
        format: &mut F,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError>;
}

/// [`Item::write`] with `$body`, the signature written once for the three impls.
macro_rules! write_item {
    (|$self:ident, $encoder:ident, $format:ident, $out:ident| $body:block) => {
        #[inline]
        fn write<E: Encoder, F: Format>(
            &$self,
            $encoder: &E,
            $format: &mut F,
            $out: &mut Vec<u8>,
        ) -> Result<(), EncodeError> $body
    };
}

impl<T: Serialize + 'static> Item for T {
    write_item!(|self, encoder, format, out| { format.write_value(self, encoder, out) });
}

impl Item for RawJson {
    write_item!(|self, _encoder, format, out| { format.write_raw(self.as_bytes(), out) });
}

impl Item for Validated {
    write_item!(|self, encoder, format, out| {
        let json = &self.0;
        json.validate()
            .and_then(|()| format.check_raw(json.as_bytes()))
            .map_err(EncodeError::InvalidJson)?;
        json.write(encoder, format, out)
    });
}
