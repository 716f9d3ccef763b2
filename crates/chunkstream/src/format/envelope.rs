//! [`Envelope`]: a JSON object around the array of items, with fields before it given up
//! front and fields after it computed from what was streamed.

use std::error::Error;
use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use super::Format;
use super::marker::write_error_marker;
use crate::encode::{EncodeError, Encoder};
use crate::error::StreamError;
use crate::source::Cut;

/// Writes the cursor of one item (given as `&dyn Any`) into `out` as JSON.
type CursorFn = dyn Fn(&dyn std::any::Any, &mut Vec<u8>) -> Result<(), EnvelopeError> + Send + Sync;

/// The items as a JSON array inside an object (`application/json`):
///
/// ```text
/// {"query":{"status":"open"},"data":[{...},{...}],"count":2,"next":10042,"truncated":true}
/// ```
///
/// - **Before the array**: the fields of an object given up front
///   ([`with_fields`](Envelope::with_fields)), then the array under the name given to
///   [`new`](Envelope::new).
/// - **After the array**, computed when the source ends, each one only if asked for:
///   the number of items ([`with_count`](Envelope::with_count)); a cursor taken from the
///   last item by a closure ([`with_cursor`](Envelope::with_cursor), `null` when there
///   is none); and with [`with_truncated`](Envelope::with_truncated), a `truncated` flag,
///   true when [`source::limit`](crate::source::limit) cut the source (it had more
///   items than the page holds), and then only is the cursor given (`null` otherwise, so
///   a client pages until `next` is `null`).
/// - **Failure**: after the first chunk the transfer is aborted and the object never
///   closes; or, with [error markers](crate::Streamer::with_error_markers) on, the array is
///   closed and the object ends with the count so far and an `"error"` field naming the
///   kind of failure (never its details), then the transfer is aborted: a client that
///   reads the body to its end sees the abort, one that parses as it reads finds `error`.
///
/// Every path writes the same bytes: on the parallel path the last item's cursor is
/// carried from the batch that wrote it ([`Format::join`]).
///
/// # Examples
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use chunkstream::{ChunkConfig, Streamer, format::Envelope, source};
///
/// #[derive(serde::Serialize)]
/// struct Ticket { id: u64 }
///
/// // A page of 2 from a query for 3 rows: the third says a next page exists.
/// let rows = source::from_iter((1..=3).map(|id| Ticket { id }));
/// let (page, cut) = source::limit(rows, 2);
/// let envelope = Envelope::new("data")
///     .with_fields(&serde_json::json!({"query": {"after": 0}}))?
///     .with_count("count")
///     .with_cursor("next", |t: &Ticket| t.id)
///     .with_truncated("truncated", cut);
/// let streamer = Streamer::new(ChunkConfig::default())?.with_format(envelope);
/// let body = streamer.json(page).collect_bytes().await?;
/// assert_eq!(
///     &body[..],
///     br#"{"query":{"after":0},"data":[{"id":1},{"id":2}],"count":2,"next":2,"truncated":true}"#,
/// );
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct Envelope {
    /// `{`, the fields before, and `"name":[`.
    head: Arc<[u8]>,
    /// `,"count":` when asked for.
    count: Option<Arc<[u8]>>,
    /// `,"next":` and the closure, when asked for.
    cursor: Option<(Arc<[u8]>, Arc<CursorFn>)>,
    /// `,"truncated":` and what tells it, when asked for.
    truncated: Option<(Arc<[u8]>, Cut)>,
    /// The last item's cursor, as JSON (empty: no item yet).
    last: Vec<u8>,
}

impl fmt::Debug for Envelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Envelope")
            .field("head", &String::from_utf8_lossy(&self.head))
            .field("count", &self.count.is_some())
            .field("cursor", &self.cursor.is_some())
            .field("truncated", &self.truncated.is_some())
            .finish_non_exhaustive()
    }
}

/// `,"name":`, the name escaped as JSON.
fn key(name: &str) -> Arc<[u8]> {
    let mut out = vec![b','];
    // A `&str` always serializes.
    let _ = serde_json::to_writer(&mut out, name);
    out.push(b':');
    out.into()
}

impl Envelope {
    /// `{"array":[...]}`: the items under `array`, nothing before or after.
    pub fn new(array: &str) -> Self {
        let mut head = vec![b'{'];
        head.extend_from_slice(&key(array)[1..]);
        head.push(b'[');
        Envelope {
            head: head.into(),
            count: None,
            cursor: None,
            truncated: None,
            last: Vec::new(),
        }
    }

    /// Puts the fields of `fields` (which must serialize to a JSON object) before the
    /// array, in its order.
    ///
    /// # Errors
    ///
    /// [`EnvelopeError::NotAnObject`] if `fields` is not a JSON object, or
    /// [`EnvelopeError::Fields`] if it cannot be serialized.
    pub fn with_fields<T: Serialize + ?Sized>(mut self, fields: &T) -> Result<Self, EnvelopeError> {
        let json = serde_json::to_vec(fields).map_err(EnvelopeError::Fields)?;
        let inner = json
            .strip_prefix(b"{")
            .and_then(|json| json.strip_suffix(b"}"))
            .ok_or(EnvelopeError::NotAnObject)?;
        let mut head = vec![b'{'];
        if !inner.is_empty() {
            head.extend_from_slice(inner);
            head.push(b',');
        }
        head.extend_from_slice(&self.head[1..]);
        self.head = head.into();
        Ok(self)
    }

    /// Ends the object with `"name":N`, the number of items.
    pub fn with_count(mut self, name: &str) -> Self {
        self.count = Some(key(name));
        self
    }

    /// Ends the object with `"name":cursor`, `cursor(last item)` as JSON (`null` for an
    /// empty body). The items must be of type `T`: an item of another type is refused
    /// ([`EnvelopeError::CursorType`]).
    pub fn with_cursor<T: 'static, C: Serialize>(
        mut self,
        name: &str,
        cursor: impl Fn(&T) -> C + Send + Sync + 'static,
    ) -> Self {
        let write: Arc<CursorFn> = Arc::new(move |item: &dyn std::any::Any, out: &mut Vec<u8>| {
            let Some(item) = item.downcast_ref::<T>() else {
                return Err(EnvelopeError::CursorType(std::any::type_name::<T>()));
            };
            serde_json::to_writer(&mut *out, &cursor(item)).map_err(EnvelopeError::Cursor)
        });
        self.cursor = Some((key(name), write));
        self
    }

    /// Ends the object with `"name":true` when `cut` says the source had more items
    /// than the body holds (made with [`source::limit`](crate::source::limit)), `false`
    /// otherwise; the cursor is then given only when it is true.
    pub fn with_truncated(mut self, name: &str, cut: Cut) -> Self {
        self.truncated = Some((key(name), cut));
        self
    }

    fn close_array(&self, count: u64, out: &mut Vec<u8>) {
        out.push(b']');
        if let Some(name) = &self.count {
            out.extend_from_slice(name);
            let _ = serde_json::to_writer(&mut *out, &count);
        }
    }
}

impl Format for Envelope {
    fn content_type(&self) -> &'static str {
        "application/json"
    }

    fn open(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.head);
    }

    #[inline]
    fn separator(&self, out: &mut Vec<u8>) {
        out.push(b',');
    }

    #[inline]
    fn write_value<T: Serialize + 'static, E: Encoder>(
        &mut self,
        value: &T,
        encoder: &E,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        if let Some((_, cursor)) = &self.cursor {
            self.last.clear();
            cursor(value, &mut self.last).map_err(|err| EncodeError::Serialize(Box::new(err)))?;
        }
        encoder.encode(value, out)
    }

    fn write_raw(&mut self, json: &[u8], out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if self.cursor.is_some() {
            let err = EnvelopeError::CursorType("a typed item (not pre-encoded JSON)");
            return Err(EncodeError::Serialize(Box::new(err)));
        }
        out.extend_from_slice(json);
        Ok(())
    }

    fn join(&mut self, batch: Self) {
        if !batch.last.is_empty() {
            self.last = batch.last;
        }
    }

    fn close(&mut self, count: u64, out: &mut Vec<u8>) {
        self.close_array(count, out);
        // Without a `truncated` field every body has a next cursor; with one, only a
        // body the limit cut.
        let more = self.truncated.as_ref().is_none_or(|(_, cut)| cut.is_cut());
        if let Some((name, _)) = &self.cursor {
            out.extend_from_slice(name);
            match more && !self.last.is_empty() {
                true => out.extend_from_slice(&self.last),
                false => out.extend_from_slice(b"null"),
            }
        }
        if let Some((name, _)) = &self.truncated {
            out.extend_from_slice(name);
            out.extend_from_slice(if more { b"true" } else { b"false" });
        }
        out.push(b'}');
    }

    fn fail(&mut self, count: u64, err: &StreamError, out: &mut Vec<u8>) {
        self.close_array(count, out);
        out.extend_from_slice(b",\"error\":");
        write_error_marker(err, out);
        out.push(b'}');
    }
}

/// Why an envelope could not be built, or an item's cursor could not be written (the
/// source of [`EncodeError::Serialize`]).
#[derive(Debug)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// The fields given to [`Envelope::with_fields`] are not a JSON object.
    NotAnObject,
    /// The fields given to [`Envelope::with_fields`] could not be serialized.
    Fields(serde_json::Error),
    /// The item is not of the type the cursor closure takes (named here).
    CursorType(&'static str),
    /// The cursor could not be serialized.
    Cursor(serde_json::Error),
}

impl fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvelopeError::NotAnObject => {
                f.write_str("the envelope's fields must serialize to a JSON object")
            }
            EnvelopeError::Fields(err) => {
                write!(f, "cannot serialize the envelope's fields: {err}")
            }
            EnvelopeError::CursorType(expected) => write!(
                f,
                "the envelope's cursor closure takes `{expected}`, and the item is of another type"
            ),
            EnvelopeError::Cursor(err) => write!(f, "cannot serialize the cursor: {err}"),
        }
    }
}

impl Error for EnvelopeError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            EnvelopeError::Fields(err) | EnvelopeError::Cursor(err) => Some(err),
            _ => None,
        }
    }
}
