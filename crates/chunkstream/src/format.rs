//! [`Format`]: how items are written in the body; open, so a service can implement a
//! framing of its own.
//!
//! | format | content type | an item is |
//! | --- | --- | --- |
//! | [`JsonArray`] (default) | `application/json` | its JSON, in `[...]` |
//! | [`Ndjson`] | `application/x-ndjson` | its JSON and `\n` |
//! | [`Json`] | either of the two, chosen at run time | |
//! | [`Csv`] | `text/csv; charset=utf-8` | an RFC 4180 record, after an optional header row |
//! | [`Sse`] | `text/event-stream` | an event whose data is its JSON, with an optional name and id |
//! | [`Envelope`] | `application/json` | its JSON, in an array inside an object with fields before and after |
//! | [`TextLines`] | `text/plain; charset=utf-8` | its text and `\n` |
//!
//! A failure after the first chunk aborts the transfer whatever the format;
//! [error markers](crate::Streamer::with_error_markers) add a last event, line or field.

use std::io::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::encode::{EncodeError, Encoder, InvalidJson};
use crate::error::{StreamError, new_error_id};
use crate::trace;

/// [`Format::write_value`] with `$body`, for the crate's formats that write items
/// themselves: `write_value!(|self, value, encoder, out| { ... })`.
macro_rules! write_value {
    (|$self:ident, $value:ident, $encoder:ident, $out:ident| $body:block) => {
        #[inline]
        fn write_value<T: ::serde::Serialize + 'static, E: $crate::encode::Encoder>(
            &mut $self,
            $value: &T,
            $encoder: &E,
            $out: &mut Vec<u8>,
        ) -> Result<(), $crate::encode::EncodeError> $body
    };
}

mod csv;
mod envelope;
mod sse;
mod text;

pub use self::csv::{Csv, CsvError, QuoteStyle, Terminator};
pub use self::envelope::{Envelope, EnvelopeCursor, EnvelopeError, LastCursor, NoCursor};
pub use self::sse::{Sse, SseError};
pub use self::text::{Line, TextError, TextLines};

/// A body framing: what comes before the first item, around and between items, after the
/// last, what an empty body is, and what a failed body may still write; and, if it
/// wants, how an item itself is written. Every hook runs monomorphized in the one chunk
/// writer of every path, on the stream's own clone of the format (so a format may keep
/// per-stream state in its fields).
///
/// # Writing items
///
/// After the opening or the separator, the chunk writer hands the item to
/// [`write_value`](Format::write_value) (a `Serialize` item) or
/// [`write_raw`](Format::write_raw) (pre-encoded JSON), which by default write
/// [`item_prefix`](Format::item_prefix), the item's JSON, then
/// [`item_suffix`](Format::item_suffix). A format that writes items its own way (CSV
/// records, SSE events with an id taken from the item) overrides `write_value`, which
/// gets the item's own `'static` type: it can hand it, through [`Any`](std::any::Any), to a
/// closure the user wrote for that type (as [`Sse::with_id`] and
/// [`Envelope::with_cursor`] do).
///
/// # State on the parallel path
///
/// With encoding workers, each batch is written by its own clone of the format (made
/// before the body opens, never opened itself), and the stream's format
/// [`join`](Format::join)s each batch's clone, in body order, before it writes the
/// opening or the separator in front of that batch. What a format learns from its items
/// (the last item's cursor, the header of the first) must be carried over in `join` for
/// every path to write the same bytes. `join` gets the very clone that wrote the batch,
/// so `Clone` need not copy what was learned (the envelope's does not).
///
/// # Examples
///
/// RFC 7464 JSON text sequences: each item is `RS item LF`, nothing between items.
///
/// ```
/// use chunkstream::Format;
///
/// #[derive(Clone, Copy, Debug)]
/// struct JsonSeq;
///
/// impl Format for JsonSeq {
///     fn content_type(&self) -> &'static str {
///         "application/json-seq"
///     }
///     fn item_prefix(&self, out: &mut Vec<u8>) {
///         out.push(0x1e);
///     }
///     fn item_suffix(&self, out: &mut Vec<u8>) {
///         out.push(b'\n');
///     }
/// }
/// assert_eq!(JsonSeq.content_type(), "application/json-seq");
/// ```
pub trait Format: Clone + Send + Sync + 'static {
    /// The `Content-Type` of a body in this format.
    fn content_type(&self) -> &'static str;

    /// Writes what comes before the first item (`[` for a JSON array).
    fn open(&mut self, out: &mut Vec<u8>) {
        let _ = out;
    }

    /// Writes what comes between two items (`,` for a JSON array).
    fn separator(&self, out: &mut Vec<u8>) {
        let _ = out;
    }

    /// Writes what comes before every item, after the opening or the separator.
    fn item_prefix(&self, out: &mut Vec<u8>) {
        let _ = out;
    }

    /// Writes what comes after every item (`\n` for NDJSON).
    fn item_suffix(&self, out: &mut Vec<u8>) {
        let _ = out;
    }

    /// Writes one `Serialize` item: by default the prefix, the item's JSON from `encoder`,
    /// and the suffix. On error `out` may hold part of the item; the writer truncates it.
    ///
    /// # Errors
    ///
    /// The [`EncodeError`] that refuses the item.
    #[inline]
    fn write_value<T: Serialize + 'static, E: Encoder>(
        &mut self,
        value: &T,
        encoder: &E,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        self.item_prefix(out);
        encoder.encode(value, out)?;
        self.item_suffix(out);
        Ok(())
    }

    /// Writes one pre-encoded JSON item ([`RawJson`](crate::RawJson), or a checked
    /// [`Validated`](crate::Validated)): by default the prefix, the bytes, and the suffix.
    ///
    /// # Errors
    ///
    /// The [`EncodeError`] that refuses the item (a format that cannot hold JSON text).
    #[inline]
    fn write_raw(&mut self, json: &[u8], out: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.item_prefix(out);
        out.extend_from_slice(json);
        self.item_suffix(out);
        Ok(())
    }

    /// Takes over what the clone that wrote one batch learned from its items (parallel
    /// path only; see [State on the parallel path](Format#state-on-the-parallel-path)).
    /// By default nothing.
    fn join(&mut self, batch: Self) {
        let _ = batch;
    }

    /// Prepares what [`close`](Format::close) writes, and may still refuse the body:
    /// called once, after the last item of a successful body of `count` (at least one)
    /// items. The place to turn what was learned from the items into bytes when that can
    /// fail (the envelope's cursor). By default nothing.
    ///
    /// # Errors
    ///
    /// The [`EncodeError`] that refuses the body: the stream then fails with
    /// [`StreamError::Encode`] carrying the last item's index (its items already written
    /// stay written, as for an item refused after the first chunk).
    fn before_close(&mut self, count: u64) -> Result<(), EncodeError> {
        let _ = count;
        Ok(())
    }

    /// Writes what closes a successful body of `count` (at least one) items (`]`).
    fn close(&mut self, count: u64, out: &mut Vec<u8>) {
        let _ = (count, out);
    }

    /// Writes the whole body of a successful stream without items (`[]` for a JSON
    /// array); by default the opening and the closing.
    fn empty(&mut self, out: &mut Vec<u8>) {
        self.open(out);
        self.close(0, out);
    }

    /// Writes the error marker a body that failed with `err` after `count` items ends
    /// with (NDJSON's last line `{"error":{...}}`), called only when
    /// [error markers](crate::Streamer::with_error_markers) are on (which says what a
    /// marker carries) and a chunk has already gone out. By default nothing: a JSON array
    /// without its `]` never looks complete.
    fn fail(&mut self, count: u64, err: &StreamError, out: &mut Vec<u8>) {
        let _ = (count, err, out);
    }

    /// How long the body may stay silent while the source is idle before
    /// [`write_keep_alive`](Format::write_keep_alive) is sent (a format that asks for it
    /// keeps the batch path off the encoding workers). By default `None`: never.
    fn keep_alive(&self) -> Option<Duration> {
        None
    }

    /// Writes what keeps a silent body alive (SSE: a comment line), sent as a chunk of
    /// its own with whatever items wait. Only called when
    /// [`keep_alive`](Format::keep_alive) is set; it may come before the first item.
    fn write_keep_alive(&self, out: &mut Vec<u8>) {
        let _ = out;
    }

    /// Checks that a validated pre-encoded item can be framed as it is, beyond being one
    /// JSON value (NDJSON refuses a raw line break). By default every JSON value can.
    ///
    /// # Errors
    ///
    /// The [`InvalidJson`] that refuses the item.
    fn check_raw(&self, json: &[u8]) -> Result<(), InvalidJson> {
        let _ = json;
        Ok(())
    }
}

/// `[item,item,...]`; an empty body is `[]`, and a failed body never gets its `]`.
///
/// ```
/// use chunkstream::{Format, format::JsonArray};
///
/// assert_eq!(JsonArray.content_type(), "application/json");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct JsonArray;

impl Format for JsonArray {
    fn content_type(&self) -> &'static str {
        "application/json"
    }

    #[inline]
    fn open(&mut self, out: &mut Vec<u8>) {
        out.push(b'[');
    }

    #[inline]
    fn separator(&self, out: &mut Vec<u8>) {
        out.push(b',');
    }

    fn close(&mut self, _count: u64, out: &mut Vec<u8>) {
        out.push(b']');
    }
}

/// One value per line, each followed by `\n`; an empty body is empty.
///
/// Its [error marker](crate::Streamer::with_error_markers) is one last line,
/// `{"error":{"kind":...,"message":...,"id":...}}`.
///
/// ```
/// use chunkstream::{Format, format::Ndjson};
///
/// assert_eq!(Ndjson.content_type(), "application/x-ndjson");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Ndjson;

impl Format for Ndjson {
    fn content_type(&self) -> &'static str {
        "application/x-ndjson"
    }

    #[inline]
    fn item_suffix(&self, out: &mut Vec<u8>) {
        out.push(b'\n');
    }

    fn fail(&mut self, _count: u64, err: &StreamError, out: &mut Vec<u8>) {
        // Every item ends with its `\n`, so the marker starts a line of its own.
        out.extend_from_slice(b"{\"error\":");
        write_error_marker(err, out);
        out.extend_from_slice(b"}\n");
    }

    fn check_raw(&self, json: &[u8]) -> Result<(), InvalidJson> {
        match json.iter().position(|&b| b == b'\n' || b == b'\r') {
            Some(offset) => Err(InvalidJson::LineBreak { offset }),
            None => Ok(()),
        }
    }
}

/// Writes the error marker every format that has one writes:
/// `{"kind":"source","message":"the source of the stream failed","id":"9f2c…"}`: the
/// kind, its generic message and a new id, never the source's own text; the detail goes
/// to the log (`WARN`, with the `tracing` feature) under the same id.
fn write_error_marker(err: &StreamError, out: &mut Vec<u8>) {
    let id = new_error_id();
    trace::reported(
        &id,
        err,
        "stream failed after its first chunk; the body ends with an error marker",
    );
    let kind = err.kind();
    // Kind, message and id are fixed ASCII text without quotes or backslashes (a test
    // parses every kind's marker back), so they need no escaping.
    let (name, message) = (kind.as_str(), kind.message());
    let _ = write!(
        out,
        r#"{{"kind":"{name}","message":"{message}","id":"{id}"}}"#
    );
}

/// The JSON array or NDJSON, chosen at run time (from a query parameter, say): one
/// branch per item instead of a type per format.
///
/// ```
/// use chunkstream::{Format, format::Json};
///
/// assert_eq!(Json::Ndjson.content_type(), "application/x-ndjson");
/// assert_eq!(Json::default(), Json::Array);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Json {
    /// [`JsonArray`]; the default.
    #[default]
    Array,
    /// [`Ndjson`].
    Ndjson,
}

/// Calls `$method` on the format `$json` stands for.
macro_rules! either {
    ($json:expr, $method:ident($($arg:expr),*)) => {
        match $json {
            Json::Array => JsonArray.$method($($arg),*),
            Json::Ndjson => Ndjson.$method($($arg),*),
        }
    };
}

impl Format for Json {
    fn content_type(&self) -> &'static str {
        either!(self, content_type())
    }
    #[inline]
    fn open(&mut self, out: &mut Vec<u8>) {
        either!(self, open(out))
    }
    #[inline]
    fn separator(&self, out: &mut Vec<u8>) {
        either!(self, separator(out))
    }
    #[inline]
    fn item_suffix(&self, out: &mut Vec<u8>) {
        either!(self, item_suffix(out))
    }
    fn before_close(&mut self, count: u64) -> Result<(), EncodeError> {
        either!(self, before_close(count))
    }
    fn close(&mut self, count: u64, out: &mut Vec<u8>) {
        either!(self, close(count, out))
    }
    fn fail(&mut self, count: u64, err: &StreamError, out: &mut Vec<u8>) {
        either!(self, fail(count, err, out))
    }
    fn check_raw(&self, json: &[u8]) -> Result<(), InvalidJson> {
        either!(self, check_raw(json))
    }
}
