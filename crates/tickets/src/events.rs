//! The tickets as Server-Sent Events: the library's [`Sse`] framing with what the
//! service's event stream adds around it, a `retry:` field first and an `end` event last.
//!
//! ```text
//! retry: 500
//!
//! event: ticket
//! id: 1
//! data: {"id":1,"title":"...",...}
//!
//! event: end
//! data: {"count":1}
//!
//! ```
//!
//! - Every ticket is an event named `ticket`, its data the ticket's JSON, its `id:` the
//!   ticket's id; a client that reconnects sends the last one as `Last-Event-ID`.
//! - `retry:` comes first, so an `EventSource` that loses the connection reconnects
//!   after [`RETRY`] rather than its default of a few seconds.
//! - When the selection is complete, one event named `end` whose data is
//!   `{"count":N}`, N the tickets sent in this response, and the response ends. A
//!   response cut after [`Settings::events_per_connection`](crate::Settings) tickets
//!   ends without it, as a server going away would, and the client reconnects.
//! - A failure after the first event: `event: error` (the library's error marker), then
//!   the transfer is aborted.
//! - While the database is slow to answer, a `: keep-alive` comment every
//!   [`KEEP_ALIVE`].

use std::time::Duration;

use chunkstream::encode::{EncodeError, Encoder};
use chunkstream::format::{Sse, SseError};
use chunkstream::source::Cut;
use chunkstream::{Format, StreamError};
use serde::Serialize;

use crate::row::TicketRow;

/// The reconnection delay the stream asks of its clients (`retry:`).
pub const RETRY: Duration = Duration::from_millis(500);

/// How long the stream may stay silent while its source is idle before a comment keeps
/// proxies from closing it.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The name of each ticket's event.
pub const TICKET_EVENT: &str = "ticket";

/// The name of the last event of a complete stream.
pub const END_EVENT: &str = "end";

/// The service's event stream of [`TicketRow`]s (see the module docs).
#[derive(Clone, Debug)]
pub struct TicketEvents {
    sse: Sse,
    /// Set when the response was cut before the selection's end: no `end` event.
    cut: Cut,
}

impl TicketEvents {
    /// The events of one response; `cut` tells whether it ended before its selection
    /// did ([`source::limit`](chunkstream::source::limit)), `Cut::default()` if it never
    /// does.
    ///
    /// # Errors
    ///
    /// The [`SseError`] of an invalid event name (none: the names are constants).
    pub fn new(cut: Cut) -> Result<TicketEvents, SseError> {
        let sse = Sse::new()
            .with_event(TICKET_EVENT)?
            .with_id(|row: &TicketRow| row.id())
            .with_keep_alive(KEEP_ALIVE);
        Ok(TicketEvents { sse, cut })
    }
}

impl Format for TicketEvents {
    fn content_type(&self) -> &'static str {
        self.sse.content_type()
    }

    fn open(&mut self, out: &mut Vec<u8>) {
        // A block of its own: a field line without `data:` dispatches no event.
        out.extend_from_slice(format!("retry: {}\n\n", RETRY.as_millis()).as_bytes());
    }

    #[inline]
    fn write_value<T: Serialize + 'static, E: Encoder>(
        &mut self,
        value: &T,
        encoder: &E,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        self.sse.write_value(value, encoder, out)
    }

    fn write_raw(&mut self, json: &[u8], out: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.sse.write_raw(json, out)
    }

    fn close(&mut self, count: u64, out: &mut Vec<u8>) {
        if self.cut.is_cut() {
            return;
        }
        out.extend_from_slice(
            format!("event: {END_EVENT}\ndata: {{\"count\":{count}}}\n\n").as_bytes(),
        );
    }

    fn fail(&mut self, count: u64, err: &StreamError, out: &mut Vec<u8>) {
        self.sse.fail(count, err, out);
    }

    fn keep_alive(&self) -> Option<Duration> {
        self.sse.keep_alive()
    }

    fn write_keep_alive(&self, out: &mut Vec<u8>) {
        self.sse.write_keep_alive(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chunkstream::{ChunkConfig, Streamer, source};

    fn row(id: i64) -> TicketRow {
        TicketRow::from(&crate::seed::ticket(id))
    }

    #[tokio::test]
    async fn retry_first_then_tickets_then_end() {
        let streamer = Streamer::new(ChunkConfig::default())
            .unwrap()
            .with_format(TicketEvents::new(Cut::default()).unwrap());
        let body = streamer
            .json(source::from_iter([row(1), row(2)]))
            .collect_bytes()
            .await
            .unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert!(
            body.starts_with("retry: 500\n\nevent: ticket\nid: 1\ndata: {"),
            "{body}"
        );
        assert!(
            body.ends_with("event: end\ndata: {\"count\":2}\n\n"),
            "{body}"
        );
    }

    #[tokio::test]
    async fn a_cut_response_has_no_end_event() {
        let (rows, cut) = source::limit(source::from_iter([row(1), row(2), row(3)]), 2);
        let streamer = Streamer::new(ChunkConfig::default())
            .unwrap()
            .with_format(TicketEvents::new(cut).unwrap());
        let body = streamer.json(rows).collect_bytes().await.unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert!(body.contains("id: 2\n"), "{body}");
        assert!(!body.contains("event: end"), "{body}");
        assert!(!body.contains("id: 3\n"), "{body}");
    }
}
