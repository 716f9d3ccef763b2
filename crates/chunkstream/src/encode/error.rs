//! [`EncodeError`]: why a value could not be encoded.

use std::error::Error;
use std::fmt;

use crate::raw::InvalidJson;

/// A value that could not be encoded as JSON.
#[derive(Debug)]
#[non_exhaustive]
pub enum EncodeError {
    /// A float was NaN or infinite; JSON has no representation for it.
    NonFiniteFloat,
    /// The serializer failed: a map key that JSON cannot have (see
    /// [`encode`](crate::encode) for which keys are accepted), or an error raised by the
    /// value's `Serialize` implementation. The serializer's own error is the source.
    Serialize(Box<dyn Error + Send + Sync + 'static>),
    /// A [`Validated`](crate::raw::Validated) pre-encoded item is not one JSON value, or
    /// holds what the format cannot frame.
    InvalidJson(InvalidJson),
}

impl EncodeError {
    /// [`EncodeError::Serialize`] with `err` as its source: how a [`Format`](crate::Format)
    /// of your own refuses an item it cannot write.
    ///
    /// ```
    /// use chunkstream::EncodeError;
    ///
    /// let err = EncodeError::serialize("a field holds a tab");
    /// assert_eq!(err.to_string(), "serialization failed: a field holds a tab");
    /// ```
    pub fn serialize(err: impl Into<Box<dyn Error + Send + Sync + 'static>>) -> Self {
        EncodeError::Serialize(err.into())
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::NonFiniteFloat => {
                f.write_str("cannot encode a non-finite float (NaN or infinity) as JSON")
            }
            EncodeError::Serialize(err) => write!(f, "serialization failed: {err}"),
            EncodeError::InvalidJson(err) => err.fmt(f),
        }
    }
}

impl Error for EncodeError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            EncodeError::NonFiniteFloat => None,
            EncodeError::Serialize(err) => Some(&**err),
            EncodeError::InvalidJson(err) => Some(err),
        }
    }
}
