//! Pre-encoded JSON items: [`RawJson`] is text that is already JSON (made by the
//! database, a cache, another service), framed and copied into the pooled buffer without
//! parsing or re-encoding.
//!
//! # Trust
//!
//! The item kind says whether the text is trusted, whatever the method, path or format:
//!
//! - a [`RawJson`] item is trusted to be exactly one valid JSON value (and, for NDJSON,
//!   to hold no raw line break): its bytes are copied as they are, the encoder is not
//!   involved, and an item that breaks the promise makes a body that is not JSON;
//! - a [`Validated`] item is checked first with [`RawJson::validate`] (one parse, without
//!   building the value) and the format's own check (NDJSON refuses a line break); the
//!   first invalid item ends the stream with [`StreamError::Encode`](crate::StreamError)
//!   carrying its index and [`EncodeError::InvalidJson`](crate::EncodeError), and is
//!   never written.
//!
//! [`trusted`] and [`validated`] turn a source of anything `Into<RawJson>` into a source
//! of either kind.

use std::error::Error;
use std::fmt;

use bytes::Bytes;
use futures_core::Stream;
use futures_util::StreamExt;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

/// One item that is already JSON text, written into the body as it is.
///
/// Made with `From` from a `String`, a `Box<str>`, a `&'static str`, a `Vec<u8>`,
/// [`Bytes`] or a serde_json `Box<RawValue>`, without copying the text. A `RawJson` is
/// not `Serialize`: every path copies its bytes between the framing whatever the encoder
/// (serde_json's `RawValue`, by contrast, is only written raw by serde_json's own
/// serializer).
///
/// # Examples
///
/// ```
/// use chunkstream::RawJson;
///
/// let item = RawJson::from(r#"{"id":1}"#);
/// assert_eq!(item.as_bytes(), br#"{"id":1}"#);
/// assert!(item.validate().is_ok());
/// assert!(RawJson::from(String::from("{\"id\":")).validate().is_err());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct RawJson(Repr);

#[derive(Clone, PartialEq, Eq)]
enum Repr {
    Shared(Bytes),
    Owned(Vec<u8>),
}

impl RawJson {
    /// The JSON text.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Shared(bytes) => bytes,
            Repr::Owned(vec) => vec,
        }
    }

    /// Checks that the text is exactly one valid JSON value (UTF-8, whitespace around it
    /// allowed). A format may refuse more ([`Format::check_raw`](crate::Format::check_raw):
    /// NDJSON refuses a line break), which a [`Validated`] item also checks.
    ///
    /// # Errors
    ///
    /// [`InvalidJson`] saying what is wrong and where.
    ///
    /// # Examples
    ///
    /// ```
    /// use chunkstream::{RawJson, raw::InvalidJson};
    ///
    /// assert!(RawJson::from("{\n  \"id\": 1\n}").validate().is_ok());
    /// assert!(matches!(RawJson::from("1 2").validate(), Err(InvalidJson::Syntax(_))));
    /// ```
    pub fn validate(&self) -> Result<(), InvalidJson> {
        let text = std::str::from_utf8(self.as_bytes()).map_err(InvalidJson::Utf8)?;
        serde_json::from_str::<IgnoredAny>(text).map_err(InvalidJson::Syntax)?;
        Ok(())
    }
}

impl fmt::Debug for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RawJson")
            .field(&String::from_utf8_lossy(self.as_bytes()))
            .finish()
    }
}

/// `From<$from> for RawJson`, each row `$from => |$value| $make;`.
macro_rules! from_impls {
    ($($from:ty => |$value:ident| $make:expr;)*) => {$(
        impl From<$from> for RawJson {
            fn from($value: $from) -> Self {
                $make
            }
        }
    )*};
}

from_impls! {
    Bytes => |bytes| RawJson(Repr::Shared(bytes));
    Vec<u8> => |vec| RawJson(Repr::Owned(vec));
    String => |text| RawJson(Repr::Owned(text.into_bytes()));
    Box<str> => |text| RawJson::from(text.into_string());
    &'static str => |text| RawJson(Repr::Shared(Bytes::from_static(text.as_bytes())));
    Box<RawValue> => |value| RawJson::from(Box::<str>::from(value));
}

/// Why [`RawJson::validate`] refused an item.
#[derive(Debug)]
#[non_exhaustive]
pub enum InvalidJson {
    /// The text is not UTF-8.
    Utf8(std::str::Utf8Error),
    /// The text is not exactly one JSON value: serde_json's error says where.
    Syntax(serde_json::Error),
    /// The text is valid JSON but holds a raw line break (`\n` or `\r`) at byte `offset`,
    /// which would split the item across two NDJSON lines.
    LineBreak {
        /// Byte offset of the first `\n` or `\r` in the item.
        offset: usize,
    },
}

impl fmt::Display for InvalidJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvalidJson::Utf8(err) => write!(f, "raw JSON item is not UTF-8: {err}"),
            InvalidJson::Syntax(err) => {
                write!(f, "raw JSON item is not exactly one JSON value: {err}")
            }
            InvalidJson::LineBreak { offset } => write!(
                f,
                "raw JSON item holds a line break at byte {offset}, which NDJSON cannot frame"
            ),
        }
    }
}

impl Error for InvalidJson {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            InvalidJson::Utf8(err) => Some(err),
            InvalidJson::Syntax(err) => Some(err),
            InvalidJson::LineBreak { .. } => None,
        }
    }
}

/// A pre-encoded item checked before it is written; see the [module docs](self).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validated(pub RawJson);

impl Validated {
    /// Wraps anything that converts into [`RawJson`].
    pub fn new(json: impl Into<RawJson>) -> Self {
        Validated(json.into())
    }
}

/// The items of `source` as trusted [`RawJson`] items.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use chunkstream::{ChunkConfig, Streamer, raw, source};
///
/// let streamer = Streamer::new(ChunkConfig::default())?;
/// let rows = raw::trusted(source::from_iter([r#"{"id":1}"#, r#"{"id":2}"#]));
/// let body = streamer.json(rows).collect_bytes().await?;
/// assert_eq!(&body[..], br#"[{"id":1},{"id":2}]"#);
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub fn trusted<S, T, E>(source: S) -> impl Stream<Item = Result<RawJson, E>>
where
    S: Stream<Item = Result<T, E>>,
    T: Into<RawJson>,
{
    source.map(|item| item.map(Into::into))
}

/// The items of `source` as [`Validated`] items: an invalid one ends the stream.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use chunkstream::{ChunkConfig, StreamError, Streamer, raw, source};
///
/// let streamer = Streamer::new(ChunkConfig::default())?;
/// let rows = raw::validated(source::from_iter(["1", "{oops", "3"]));
/// let err = streamer.json(rows).collect_bytes().await.unwrap_err();
/// assert!(matches!(err, StreamError::Encode { index: 1, .. }));
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub fn validated<S, T, E>(source: S) -> impl Stream<Item = Result<Validated, E>>
where
    S: Stream<Item = Result<T, E>>,
    T: Into<RawJson>,
{
    source.map(|item| item.map(Validated::new))
}
