//! [`Format`]: how encoded items are framed in the body. Open: a service implements it
//! for a framing of its own, and every path (per item, batch, spawned, parallel) writes
//! that framing through the same chunk writer.

use crate::encode::InvalidJson;
use crate::error::StreamError;

// The error marker's JSON object, which every format that ends a failed body with an
// in-band error writes through.
pub(crate) mod marker;

/// A body framing: what comes before the first item, around and between items, after the
/// last, what an empty body is, and what a failed body may still write.
///
/// The item hooks take `&self` and run once per item on the hot path, monomorphized; the
/// body hooks take `&mut self`: each stream works on its own clone of the format, so a
/// format may keep per-stream state in its fields (updated in [`close`](Format::close)
/// and [`fail`](Format::fail), which see the item count and the error).
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
