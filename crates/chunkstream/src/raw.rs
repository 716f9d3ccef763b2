//! Pre-encoded JSON items: [`RawJson`] is text that is already JSON (made by the
//! database, a cache, another service), framed and copied into the pooled buffer without
//! parsing or re-encoding, by [`Streamer::stream_raw`] and its variants.
//!
//! # Trust
//!
//! [`Streamer::stream_raw`] and [`Streamer::spawn_raw`] trust each item to be exactly one
//! valid JSON value, and, for [`Format::Ndjson`], to hold no raw line break (`\n` or
//! `\r`; JSON allows them as whitespace between tokens, NDJSON does not). The bytes are
//! copied as they are: the encoder is not involved, so every [`Encoder`] gives the same
//! body, and an item that breaks the promise makes a body that is not JSON.
//!
//! [`Streamer::stream_raw_validated`] and [`Streamer::spawn_raw_validated`] check every
//! item first with [`RawJson::validate`] (one parse, without building the value) and
//! refuse the first invalid item with [`StreamError::Encode`], carrying the item's index
//! and an [`InvalidJson`]; that item is never written, and a JSON array that fails
//! never gets its closing `]`.

use std::error::Error;
use std::fmt;

use bytes::Bytes;
use futures_core::Stream;
use serde::Serialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

use crate::chunk::ChunkWriter;
use crate::encode::{EncodeError, Encoder};
use crate::error::{BoxError, StreamError};
use crate::format::Format;
use crate::pipeline::Pipeline;
use crate::pool::BufferPool;
use crate::stream::ChunkStream;
use crate::streamer::{Streamer, spawn_chunks};

/// One item that is already JSON text, written into the body as it is.
///
/// Made with `From` from a `String`, a `Box<str>`, a `&'static str`, a `Vec<u8>`,
/// [`Bytes`] or a serde_json `Box<RawValue>`, without copying the text. A `RawJson` is
/// not `Serialize`: it is streamed by [`Streamer::stream_raw`] and its variants, which
/// copy its bytes between the framing whatever the encoder (serde_json's `RawValue`,
/// by contrast, is only written raw by serde_json's own serializer).
///
/// # Examples
///
/// ```
/// use chunkstream::{Format, RawJson};
///
/// let item = RawJson::from(r#"{"id":1}"#);
/// assert_eq!(item.as_bytes(), br#"{"id":1}"#);
/// assert!(item.validate(Format::JsonArray).is_ok());
/// assert!(RawJson::from(String::from("{\"id\":")).validate(Format::JsonArray).is_err());
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
    /// allowed) and, for [`Format::Ndjson`], that it holds no `\n` or `\r`.
    ///
    /// # Errors
    ///
    /// [`InvalidJson`] saying what is wrong and where.
    ///
    /// # Examples
    ///
    /// ```
    /// use chunkstream::{Format, RawJson, raw::InvalidJson};
    ///
    /// let pretty = RawJson::from("{\n  \"id\": 1\n}");
    /// assert!(pretty.validate(Format::JsonArray).is_ok());
    /// assert!(matches!(
    ///     pretty.validate(Format::Ndjson),
    ///     Err(InvalidJson::LineBreak { offset: 1 })
    /// ));
    /// assert!(matches!(RawJson::from("1 2").validate(Format::JsonArray), Err(InvalidJson::Syntax(_))));
    /// ```
    pub fn validate(&self, format: Format) -> Result<(), InvalidJson> {
        let bytes = self.as_bytes();
        let text = std::str::from_utf8(bytes).map_err(InvalidJson::Utf8)?;
        serde_json::from_str::<IgnoredAny>(text).map_err(InvalidJson::Syntax)?;
        if format == Format::Ndjson
            && let Some(offset) = bytes.iter().position(|&b| b == b'\n' || b == b'\r')
        {
            return Err(InvalidJson::LineBreak { offset });
        }
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

impl From<Bytes> for RawJson {
    fn from(bytes: Bytes) -> Self {
        RawJson(Repr::Shared(bytes))
    }
}

impl From<Vec<u8>> for RawJson {
    fn from(vec: Vec<u8>) -> Self {
        RawJson(Repr::Owned(vec))
    }
}

impl From<String> for RawJson {
    fn from(text: String) -> Self {
        RawJson(Repr::Owned(text.into_bytes()))
    }
}

impl From<Box<str>> for RawJson {
    fn from(text: Box<str>) -> Self {
        RawJson::from(text.into_string())
    }
}

impl From<&'static str> for RawJson {
    fn from(text: &'static str) -> Self {
        RawJson(Repr::Shared(Bytes::from_static(text.as_bytes())))
    }
}

impl From<Box<RawValue>> for RawJson {
    fn from(value: Box<RawValue>) -> Self {
        RawJson::from(Box::<str>::from(value))
    }
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

/// A value the pipeline can write: anything `Serialize` goes through the encoder, a
/// [`RawJson`] is copied as it is.
pub(crate) trait WriteItem {
    /// Frames and writes the value through `writer`.
    fn write_to<P: BufferPool, E: Encoder>(
        &self,
        writer: &mut ChunkWriter<P, E>,
    ) -> Result<(), StreamError>;
}

impl<T: Serialize> WriteItem for T {
    #[inline]
    fn write_to<P: BufferPool, E: Encoder>(
        &self,
        writer: &mut ChunkWriter<P, E>,
    ) -> Result<(), StreamError> {
        writer.write(self)
    }
}

impl WriteItem for RawJson {
    #[inline]
    fn write_to<P: BufferPool, E: Encoder>(
        &self,
        writer: &mut ChunkWriter<P, E>,
    ) -> Result<(), StreamError> {
        writer.write_raw(self.as_bytes());
        Ok(())
    }
}

/// Streaming items that are already JSON; see the [`raw`](crate::raw) module.
impl<P: BufferPool, E: Encoder> Streamer<P, E> {
    /// Streams items that are already JSON, trusting each to be exactly one valid JSON
    /// value (and, for NDJSON, to hold no line break): each item's bytes are framed and
    /// copied into the pooled buffer, never parsed nor re-encoded, so the encoder plays
    /// no part.
    ///
    /// Chunking, flushing, errors and cancellation are those of
    /// [`stream`](Streamer::stream). Use [`stream_raw_validated`](Streamer::stream_raw_validated)
    /// for text you do not trust.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use futures_util::TryStreamExt;
    /// use chunkstream::{ChunkConfig, Streamer, source};
    ///
    /// let streamer = Streamer::new(ChunkConfig::default())?;
    /// let rows = source::from_iter([r#"{"id":1}"#, r#"{"id":2}"#]);
    /// let body: Vec<u8> = streamer.stream_raw(rows).map_ok(|c| c.to_vec()).try_concat().await?;
    /// assert_eq!(body, br#"[{"id":1},{"id":2}]"#);
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn stream_raw<S, T, SE>(&self, source: S) -> ChunkStream
    where
        S: Stream<Item = Result<T, SE>> + Send + 'static,
        T: Into<RawJson>,
        SE: Into<BoxError>,
    {
        let step = |item: T| Ok(std::iter::once(item.into()));
        let pipeline = Pipeline::new(source, step, self.writer(), self.config().flush_interval);
        ChunkStream::from_fused(self.format(), pipeline)
    }

    /// Like [`stream_raw`](Streamer::stream_raw), but checks each item with
    /// [`RawJson::validate`] for the streamer's format before writing it.
    ///
    /// # Errors
    ///
    /// The first invalid item ends the stream with [`StreamError::Encode`] carrying its
    /// index (0-based) and, as source, an [`EncodeError::Serialize`] holding the
    /// [`InvalidJson`]. The item is not written; items before it that are already in
    /// chunks are sent, and a JSON array never gets its closing `]`.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use futures_util::TryStreamExt;
    /// use chunkstream::{ChunkConfig, StreamError, Streamer, source};
    ///
    /// let streamer = Streamer::new(ChunkConfig::default())?;
    /// let rows = source::from_iter(["1", "{oops", "3"]);
    /// let chunks = streamer.stream_raw_validated(rows);
    /// let err = chunks.map_ok(|c| c.to_vec()).try_concat().await.unwrap_err();
    /// assert!(matches!(err, StreamError::Encode { index: 1, .. }));
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn stream_raw_validated<S, T, SE>(&self, source: S) -> ChunkStream
    where
        S: Stream<Item = Result<T, SE>> + Send + 'static,
        T: Into<RawJson>,
        SE: Into<BoxError>,
    {
        let format = self.format();
        let mut index = 0_u64;
        let step = move |item: T| {
            let item = item.into();
            let result = match item.validate(format) {
                Ok(()) => Ok(std::iter::once(item)),
                Err(invalid) => Err(StreamError::Encode {
                    index,
                    source: EncodeError::Serialize(Box::new(invalid)),
                }),
            };
            index += 1;
            result
        };
        let pipeline = Pipeline::new(source, step, self.writer(), self.config().flush_interval);
        ChunkStream::from_fused(self.format(), pipeline)
    }

    /// Like [`stream_raw`](Streamer::stream_raw), on a tokio task feeding a bounded
    /// channel; see [`spawn`](Streamer::spawn).
    pub fn spawn_raw<S, T, SE>(&self, source: S) -> ChunkStream
    where
        S: Stream<Item = Result<T, SE>> + Send + 'static,
        T: Into<RawJson>,
        SE: Into<BoxError>,
    {
        spawn_chunks(self.stream_raw(source), self.config())
    }

    /// Like [`stream_raw_validated`](Streamer::stream_raw_validated), on a tokio task
    /// feeding a bounded channel; see [`spawn`](Streamer::spawn).
    ///
    /// # Errors
    ///
    /// As [`stream_raw_validated`](Streamer::stream_raw_validated).
    pub fn spawn_raw_validated<S, T, SE>(&self, source: S) -> ChunkStream
    where
        S: Stream<Item = Result<T, SE>> + Send + 'static,
        T: Into<RawJson>,
        SE: Into<BoxError>,
    {
        spawn_chunks(self.stream_raw_validated(source), self.config())
    }
}
