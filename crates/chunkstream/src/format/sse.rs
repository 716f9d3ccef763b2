//! [`Sse`]: Server-Sent Events (`text/event-stream`), one event per item.

use std::any::Any;
use std::error::Error;
use std::fmt;
use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use super::{Format, write_error_marker};
use crate::encode::EncodeError;
use crate::error::StreamError;

/// Writes the id of one item (given as `&dyn Any`) into `out`.
type IdFn = dyn Fn(&dyn Any, &mut Vec<u8>) -> Result<(), SseError> + Send + Sync;

/// Server-Sent Events (`text/event-stream`): each item is an event whose `data` is the
/// item's JSON, with an optional event name and an optional id taken from the item, which
/// a client that reconnects sends back as `Last-Event-ID`:
///
/// ```text
/// event: ticket
/// id: 42
/// data: {"id":42,"title":"Export times out"}
///
/// ```
///
/// - **Keep-alive**: with [`with_keep_alive`](Sse::with_keep_alive), a comment line
///   (`: keep-alive`) goes out whenever the source has been idle that long, so proxies
///   keep the connection open. It needs a tokio runtime with timers, and keeps the batch
///   path off the encoding workers, as a flush interval does.
/// - **Errors**: the [error marker](crate::Streamer::with_error_markers) is an
///   `event: error` with the marker as its data. Either way the transfer is then aborted,
///   so an `EventSource` reconnects with `Last-Event-ID`.
/// - Pre-encoded JSON items ([`RawJson`](crate::RawJson)) are events too: a line break
///   in their text starts another `data:` line, which a client joins back with `\n`.
/// - **Compression**: tower-http's `CompressionLayer` does not compress
///   `text/event-stream` with its default predicate (`NotForContentType::SSE`, checked in
///   tower-http 0.6), so events are not held back in a compressor.
///
/// # Examples
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// use chunkstream::{ChunkConfig, Format, Streamer, format::Sse, source};
///
/// #[derive(serde::Serialize)]
/// struct Ticket { id: u64, title: &'static str }
///
/// let sse = Sse::new().with_event("ticket")?.with_id(|t: &Ticket| t.id);
/// assert_eq!(sse.content_type(), "text/event-stream");
/// let streamer = Streamer::new(ChunkConfig::default())?.with_format(sse);
/// let rows = source::from_iter([Ticket { id: 7, title: "a" }, Ticket { id: 8, title: "b" }]);
/// let body = streamer.json(rows).collect_bytes().await?;
/// assert_eq!(
///     &body[..],
///     b"event: ticket\nid: 7\ndata: {\"id\":7,\"title\":\"a\"}\n\n\
///       event: ticket\nid: 8\ndata: {\"id\":8,\"title\":\"b\"}\n\n",
/// );
/// # Ok::<_, Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Default)]
pub struct Sse {
    event: Option<&'static str>,
    id: Option<Arc<IdFn>>,
    keep_alive: Option<Duration>,
}

impl fmt::Debug for Sse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sse")
            .field("event", &self.event)
            .field("id", &self.id.is_some())
            .field("keep_alive", &self.keep_alive)
            .finish()
    }
}

impl Sse {
    /// Events with data only: no name (a client sees `message`), no id, no keep-alive,
    /// no error event.
    pub fn new() -> Self {
        Sse::default()
    }

    /// Every event gets this name (`event: name`).
    ///
    /// # Errors
    ///
    /// [`SseError::Name`] if the name is empty or holds a line break: it could not be
    /// one field line.
    pub fn with_event(mut self, name: &'static str) -> Result<Self, SseError> {
        if name.is_empty() || name.contains(['\r', '\n']) {
            return Err(SseError::Name(name));
        }
        self.event = Some(name);
        Ok(self)
    }

    /// Every event gets an id (`id: ...`), `id(item)` written with `Display`, so a client
    /// resumes with `Last-Event-ID`. The items must be of type `T`: an item of another
    /// type is refused ([`SseError::IdType`]), and so is an id holding a line break or a
    /// NUL ([`SseError::Id`]), which a client would not read back.
    pub fn with_id<T: 'static, D: fmt::Display>(
        mut self,
        id: impl Fn(&T) -> D + Send + Sync + 'static,
    ) -> Self {
        self.id = Some(Arc::new(move |item: &dyn Any, out: &mut Vec<u8>| {
            let Some(item) = item.downcast_ref::<T>() else {
                return Err(SseError::IdType(std::any::type_name::<T>()));
            };
            let start = out.len();
            let _ = write!(out, "{}", id(item));
            if out[start..].iter().any(|&b| matches!(b, b'\r' | b'\n' | 0)) {
                let id = String::from_utf8_lossy(&out[start..]).into_owned();
                return Err(SseError::Id(id));
            }
            Ok(())
        }));
        self
    }

    /// Sends a comment line (`: keep-alive`) whenever the source has been idle for
    /// `interval` since the last chunk went out. Off by default; a zero interval turns it
    /// off. Items waiting in a partial batch are not sent by it: set
    /// [`flush_interval`](crate::ChunkConfig::flush_interval) for that.
    pub fn with_keep_alive(mut self, interval: Duration) -> Self {
        self.keep_alive = (!interval.is_zero()).then_some(interval);
        self
    }

    /// The head of an event: its name and id lines, and `data: `.
    #[inline]
    fn head(&self, item: Option<&dyn Any>, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if let Some(name) = self.event {
            out.extend_from_slice(b"event: ");
            out.extend_from_slice(name.as_bytes());
            out.push(b'\n');
        }
        if let Some(id) = &self.id {
            out.extend_from_slice(b"id: ");
            match item {
                Some(item) => id(item, out).map_err(EncodeError::serialize)?,
                None => return Err(EncodeError::serialize(SseError::IdType("a typed item"))),
            }
            out.push(b'\n');
        }
        out.extend_from_slice(b"data: ");
        Ok(())
    }
}

impl Format for Sse {
    fn content_type(&self) -> &'static str {
        "text/event-stream"
    }

    write_value!(|self, value, encoder, out| {
        self.head(Some(value), out)?;
        // Compact JSON holds no raw line break (they are escaped inside strings), so
        // the item is one `data:` line.
        encoder.encode(value, out)?;
        out.extend_from_slice(b"\n\n");
        Ok(())
    });

    fn write_raw(&mut self, json: &[u8], out: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.head(None, out)?;
        // Each line of the text is a `data:` line (`\r\n`, `\r` and `\n` all end one; a
        // `\r` at the very end ends none).
        let mut rest = json.strip_suffix(b"\r").unwrap_or(json);
        while let Some(at) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            out.extend_from_slice(&rest[..at]);
            out.extend_from_slice(b"\ndata: ");
            let crlf = rest[at] == b'\r' && rest.get(at + 1) == Some(&b'\n');
            rest = &rest[at + 1 + usize::from(crlf)..];
        }
        out.extend_from_slice(rest);
        out.extend_from_slice(b"\n\n");
        Ok(())
    }

    fn fail(&mut self, _count: u64, err: &StreamError, out: &mut Vec<u8>) {
        out.extend_from_slice(b"event: error\ndata: ");
        write_error_marker(err, out);
        out.extend_from_slice(b"\n\n");
    }

    fn keep_alive(&self) -> Option<Duration> {
        self.keep_alive
    }

    fn write_keep_alive(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b": keep-alive\n\n");
    }
}

/// Why an SSE event could not be written (the source of [`EncodeError::Serialize`]), or
/// an event name was refused.
#[derive(Debug)]
#[non_exhaustive]
pub enum SseError {
    /// The event name is empty or holds a line break.
    Name(&'static str),
    /// The item is not of the type the id closure takes (named here).
    IdType(&'static str),
    /// The id holds a line break or a NUL.
    Id(String),
}

impl fmt::Display for SseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SseError::Name(name) => {
                write!(f, "SSE event name {name:?} is empty or holds a line break")
            }
            SseError::IdType(expected) => write!(
                f,
                "the SSE id closure takes `{expected}`, and the item is of another type"
            ),
            SseError::Id(id) => write!(f, "SSE id {id:?} holds a line break or a NUL"),
        }
    }
}

impl Error for SseError {}
