//! [`Format`]: how items are written in the body. Open: a service implements it for a
//! framing of its own, and every path (per item, batch, spawned, parallel) writes that
//! framing through the same chunk writer.
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
//! A failure before the first chunk is the stream's first item whatever the format. After
//! it, every format aborts the transfer by default (the body never looks complete);
//! [`Streamer::with_error_markers`](crate::Streamer::with_error_markers) opts in to a last event, line or
//! field naming the kind of failure.

use std::time::Duration;

use serde::Serialize;

use crate::encode::{EncodeError, Encoder, InvalidJson};
use crate::error::StreamError;

mod csv;
mod envelope;
// The error marker's JSON object, which every format that ends a failed body with an
// in-band error writes through.
pub(crate) mod marker;
mod sse;
mod text;

pub use self::csv::{Csv, CsvError, QuoteStyle, Terminator};
pub use self::envelope::{Envelope, EnvelopeCursor, EnvelopeError, LastCursor, NoCursor};
pub use self::sse::{Sse, SseError};
pub use self::text::{Line, TextError, TextLines};

/// A body framing: what comes before the first item, around and between items, after the
/// last, what an empty body is, and what a failed body may still write; and, if it
/// wants, how an item itself is written.
///
/// Every hook runs monomorphized in the one chunk writer of every path. Each stream works
/// on its own clone of the format, so a format may keep per-stream state in its fields.
///
/// # Writing items
///
/// The chunk writer writes the opening or the separator, then hands the item to
/// [`write_value`](Format::write_value) (a `Serialize` item) or
/// [`write_raw`](Format::write_raw) (pre-encoded JSON). By default these write
/// [`item_prefix`](Format::item_prefix), the item's JSON (from the encoder, or the raw
/// bytes), then [`item_suffix`](Format::item_suffix): a format that only frames JSON
/// implements those two and never sees the items. A format that writes items its own way
/// (CSV records, SSE events with an id taken from the item) overrides `write_value`, and
/// may observe the items as they pass (`&mut self`). `write_value` gets the item's own
/// type, which is `'static` (as every streamed item is), so a format can hand it to a
/// closure the user wrote for that type through [`Any`](std::any::Any) (how
/// [`Sse::with_id`] and [`Envelope::with_cursor`] take an id or a cursor from an item).
///
/// # State on the parallel path
///
/// With encoding workers, each batch is written by its own clone of the format (made
/// before the body opens, never opened itself), and the stream's format then
/// [`join`](Format::join)s each batch's clone, in body order, before it writes the
/// opening or the separator in front of that batch. What a format learns from its items
/// (the last item's cursor, the header of the first) must therefore be carried over in
/// `join`, so that every path writes the same bytes. `join` gets the very clone that
/// wrote the batch, so a format's `Clone` need not copy what it learned (the envelope's
/// does not: a clone starts without a cursor).
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

    /// Writes one `Serialize` item, after the opening or the separator. By default the
    /// [`item_prefix`](Format::item_prefix), the item's JSON from `encoder`, and the
    /// [`item_suffix`](Format::item_suffix). On error `out` may hold part of the item;
    /// the writer truncates it back.
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

    /// Writes one pre-encoded JSON item ([`RawJson`](crate::RawJson), or a
    /// [`Validated`](crate::Validated) one once checked), after the opening or the
    /// separator. By default the prefix, the bytes as they are, and the suffix.
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
    /// Called in body order, before the opening or separator of that batch is written.
    /// By default nothing: a format without per-item state has nothing to carry.
    fn join(&mut self, batch: Self) {
        let _ = batch;
    }

    /// Prepares what [`close`](Format::close) writes, and may still refuse the body:
    /// called once, after the last item of a successful body of `count` (at least one)
    /// items, before `close`. The place to turn what was learned from the items into
    /// bytes when that can fail (the envelope's cursor). By default nothing.
    ///
    /// A format that wraps another forwards it, as it forwards
    /// [`join`](Format::join).
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
    /// with: NDJSON's last line `{"error":{...}}`. By default nothing: a JSON array without
    /// its `]` never looks complete.
    ///
    /// Called only when the stream opted in
    /// ([`Streamer::with_error_markers`](crate::Streamer::with_error_markers)) and a
    /// chunk has already gone out (before that, the error comes first and alone, and a
    /// server answers it with an error status). Either way the stream still ends with the
    /// error, and over HTTP the transfer is still aborted after the marker.
    ///
    /// A marker should carry no more than the error's kind, its generic message and an id
    /// that the log repeats with the detail: write it with the same JSON object the
    /// crate's formats write (see [`Ndjson`]).
    fn fail(&mut self, count: u64, err: &StreamError, out: &mut Vec<u8>) {
        let _ = (count, err, out);
    }

    /// How long the body may stay silent while the source is idle before
    /// [`write_keep_alive`](Format::write_keep_alive) is sent (on the sequential paths:
    /// a format that asks for it keeps the batch path off the encoding workers, as a
    /// flush interval does). By default `None`: never.
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
/// With [error markers](crate::Streamer::with_error_markers), a body that fails after its
/// first chunk ends with one more line, `{"error":{"kind":...,"message":...,"id":...}}`,
/// after every complete item already encoded (then the transfer is aborted).
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
        marker::write_error_marker(err, out);
        out.extend_from_slice(b"}\n");
    }

    fn check_raw(&self, json: &[u8]) -> Result<(), InvalidJson> {
        match json.iter().position(|&b| b == b'\n' || b == b'\r') {
            Some(offset) => Err(InvalidJson::LineBreak { offset }),
            None => Ok(()),
        }
    }
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
    ($json:expr, $format:ident => $call:expr) => {
        match $json {
            Json::Array => {
                #[allow(unused_mut)]
                let mut $format = JsonArray;
                $call
            }
            Json::Ndjson => {
                #[allow(unused_mut)]
                let mut $format = Ndjson;
                $call
            }
        }
    };
}

impl Format for Json {
    fn content_type(&self) -> &'static str {
        either!(self, f => f.content_type())
    }

    #[inline]
    fn open(&mut self, out: &mut Vec<u8>) {
        either!(self, f => f.open(out))
    }

    #[inline]
    fn separator(&self, out: &mut Vec<u8>) {
        either!(self, f => f.separator(out))
    }

    #[inline]
    fn item_suffix(&self, out: &mut Vec<u8>) {
        either!(self, f => f.item_suffix(out))
    }

    fn before_close(&mut self, count: u64) -> Result<(), EncodeError> {
        either!(self, f => f.before_close(count))
    }

    fn close(&mut self, count: u64, out: &mut Vec<u8>) {
        either!(self, f => f.close(count, out))
    }

    fn fail(&mut self, count: u64, err: &StreamError, out: &mut Vec<u8>) {
        either!(self, f => f.fail(count, err, out))
    }

    fn check_raw(&self, json: &[u8]) -> Result<(), InvalidJson> {
        either!(self, f => f.check_raw(json))
    }
}
