//! [`Envelope`]: a JSON object around the array of items, with fields before it given up
//! front and fields after it computed from what was streamed.

use std::any::Any;
use std::error::Error;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::Serialize;

use super::{Format, write_error_marker};
use crate::encode::EncodeError;
use crate::error::StreamError;
use crate::source::Cut;

/// What an [`Envelope`] keeps of its items for the cursor after the array: nothing
/// ([`NoCursor`]), or the last item's cursor ([`LastCursor`], made
/// by [`Envelope::with_cursor`]). Implemented by those two only.
///
/// The closure is held by type, not boxed, and its cursor kept as returned and
/// serialized once, when the body closes (serializing it per item cost about 3%).
pub trait EnvelopeCursor: Send + Sync + 'static + sealed::Sealed {
    /// `,"name":` of the cursor field, if there is one.
    #[doc(hidden)]
    fn field(&self) -> Option<&[u8]>;
    /// Keeps the cursor of `item` (refused if it is not of the closure's item type).
    #[doc(hidden)]
    fn keep<T: 'static>(&mut self, item: &T) -> Result<(), EnvelopeError>;
    /// The kept cursor as JSON, into `out` (nothing when no item was kept).
    #[doc(hidden)]
    fn write(&self, out: &mut Vec<u8>) -> Result<(), EnvelopeError>;
    /// Whether an item's cursor is kept.
    #[doc(hidden)]
    fn is_kept(&self) -> bool;
    /// The same settings with no cursor kept.
    #[doc(hidden)]
    fn fresh(&self) -> Self;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::NoCursor {}
    impl<T, C, F> Sealed for super::LastCursor<T, C, F> {}
}

/// An [`Envelope`] without a cursor field (the default).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoCursor;

impl EnvelopeCursor for NoCursor {
    fn field(&self) -> Option<&[u8]> {
        None
    }
    #[inline]
    fn keep<T: 'static>(&mut self, _item: &T) -> Result<(), EnvelopeError> {
        Ok(())
    }
    fn write(&self, _out: &mut Vec<u8>) -> Result<(), EnvelopeError> {
        Ok(())
    }
    fn is_kept(&self) -> bool {
        false
    }
    fn fresh(&self) -> Self {
        NoCursor
    }
}

/// The cursor field of an [`Envelope`]: its name, the closure taking the cursor from an
/// item of type `T`, and the last item's cursor (made by [`Envelope::with_cursor`]).
pub struct LastCursor<T, C, F> {
    field: Arc<[u8]>,
    of: Arc<F>,
    last: Option<C>,
    item: PhantomData<fn(&T)>,
}

impl<T, C, F> fmt::Debug for LastCursor<T, C, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LastCursor")
            .field("field", &String::from_utf8_lossy(&self.field))
            .field("item", &std::any::type_name::<T>())
            .field("kept", &self.last.is_some())
            .finish_non_exhaustive()
    }
}

impl<T, C, F> EnvelopeCursor for LastCursor<T, C, F>
where
    T: 'static,
    C: Serialize + Send + Sync + 'static,
    F: Fn(&T) -> C + Send + Sync + 'static,
{
    fn field(&self) -> Option<&[u8]> {
        Some(&self.field)
    }

    #[inline]
    fn keep<U: 'static>(&mut self, item: &U) -> Result<(), EnvelopeError> {
        // Both types are known at compile time: the optimizer can fold the check.
        let Some(item) = (item as &dyn Any).downcast_ref::<T>() else {
            return Err(EnvelopeError::CursorType(std::any::type_name::<T>()));
        };
        self.last = Some((self.of)(item));
        Ok(())
    }

    fn write(&self, out: &mut Vec<u8>) -> Result<(), EnvelopeError> {
        match &self.last {
            Some(cursor) => serde_json::to_writer(out, cursor).map_err(EnvelopeError::Cursor),
            None => Ok(()),
        }
    }

    fn is_kept(&self) -> bool {
        self.last.is_some()
    }

    fn fresh(&self) -> Self {
        LastCursor {
            field: Arc::clone(&self.field),
            of: Arc::clone(&self.of),
            last: None,
            item: PhantomData,
        }
    }
}

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
///   closed and the object ends with the count so far and the marker as an `"error"`
///   field, then the transfer is aborted: a client that reads the body to its end sees
///   the abort, one that parses as it reads finds `error`.
///
/// The cursor is serialized when the body closes: one that cannot be (a map with
/// non-string keys, a failing `Serialize`) fails the stream then, with
/// [`StreamError::Encode`] and the last item's index, before the object closes.
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
pub struct Envelope<K = NoCursor> {
    /// `{`, the fields before, and `"name":[`.
    head: Arc<[u8]>,
    /// `,"count":` when asked for.
    count: Option<Arc<[u8]>>,
    /// The cursor field and the last item's cursor, when asked for.
    cursor: K,
    /// `,"truncated":` and what tells it, when asked for.
    truncated: Option<(Arc<[u8]>, Cut)>,
    /// The last item's cursor as JSON, made by `before_close` (empty: none).
    next: Vec<u8>,
}

/// A clone keeps the settings, not the cursor: each body (or batch) learns its own.
impl<K: EnvelopeCursor> Clone for Envelope<K> {
    fn clone(&self) -> Self {
        Envelope {
            head: Arc::clone(&self.head),
            count: self.count.clone(),
            cursor: self.cursor.fresh(),
            truncated: self.truncated.clone(),
            next: Vec::new(),
        }
    }
}

impl<K: EnvelopeCursor> fmt::Debug for Envelope<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Envelope")
            .field("head", &String::from_utf8_lossy(&self.head))
            .field("count", &self.count.is_some())
            .field("cursor", &self.cursor.field().is_some())
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
            cursor: NoCursor,
            truncated: None,
            next: Vec::new(),
        }
    }
}

impl<K: EnvelopeCursor> Envelope<K> {
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
    pub fn with_cursor<T, C, F>(self, name: &str, cursor: F) -> Envelope<LastCursor<T, C, F>>
    where
        T: 'static,
        C: Serialize + Send + Sync + 'static,
        F: Fn(&T) -> C + Send + Sync + 'static,
    {
        let cursor = LastCursor {
            field: key(name),
            of: Arc::new(cursor),
            last: None,
            item: PhantomData,
        };
        Envelope {
            head: self.head,
            count: self.count,
            cursor,
            truncated: self.truncated,
            next: self.next,
        }
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

impl<K: EnvelopeCursor> Format for Envelope<K> {
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

    write_value!(|self, value, encoder, out| {
        self.cursor.keep(value).map_err(EncodeError::serialize)?;
        encoder.encode(value, out)
    });

    fn write_raw(&mut self, json: &[u8], out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if self.cursor.field().is_some() {
            let err = EnvelopeError::CursorType("a typed item (not pre-encoded JSON)");
            return Err(EncodeError::serialize(err));
        }
        out.extend_from_slice(json);
        Ok(())
    }

    fn join(&mut self, batch: Self) {
        if batch.cursor.is_kept() {
            self.cursor = batch.cursor;
        }
    }

    fn before_close(&mut self, _count: u64) -> Result<(), EncodeError> {
        self.next.clear();
        self.cursor
            .write(&mut self.next)
            .map_err(EncodeError::serialize)
    }

    fn close(&mut self, count: u64, out: &mut Vec<u8>) {
        self.close_array(count, out);
        // Without a `truncated` field every body has a next cursor; with one, only a
        // body the limit cut.
        let more = self.truncated.as_ref().is_none_or(|(_, cut)| cut.is_cut());
        if let Some(name) = self.cursor.field() {
            out.extend_from_slice(name);
            match more && !self.next.is_empty() {
                true => out.extend_from_slice(&self.next),
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
