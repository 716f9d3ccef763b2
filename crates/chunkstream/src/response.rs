//! [`StreamResponse`]: a streamed body with its status, content type and total count.

use http::StatusCode;

use crate::stream::ChunkStream;

/// A response whose body is a [`ChunkStream`]: status, optional total count (sent as
/// `X-Total-Count`), content type (from the stream's format), and the chunks.
///
/// # Examples
///
/// ```
/// use chunkstream::{ChunkConfig, StreamResponse, Streamer, source, transform};
///
/// let streamer = Streamer::new(ChunkConfig::default()).unwrap();
/// let response = StreamResponse::new(streamer.stream(source::from_iter(0..10), transform::passthrough()))
///     .with_total_count(10);
/// assert_eq!(response.status(), http::StatusCode::OK);
/// assert_eq!(response.content_type(), "application/json");
/// assert_eq!(response.total_count(), Some(10));
/// ```
#[derive(Debug)]
pub struct StreamResponse {
    status: StatusCode,
    total_count: Option<u64>,
    chunks: ChunkStream,
}

impl StreamResponse {
    /// A `200 OK` response streaming `chunks`, with no total count.
    pub fn new(chunks: ChunkStream) -> Self {
        StreamResponse {
            status: StatusCode::OK,
            total_count: None,
            chunks,
        }
    }

    /// The same response with another status.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// The same response announcing `count` items (`X-Total-Count`).
    pub fn with_total_count(mut self, count: u64) -> Self {
        self.total_count = Some(count);
        self
    }

    /// The status sent when the stream starts well.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The announced item count, if known.
    pub fn total_count(&self) -> Option<u64> {
        self.total_count
    }

    /// The `Content-Type` of the body.
    pub fn content_type(&self) -> &'static str {
        self.chunks.content_type()
    }

    /// The body.
    pub fn chunks(&self) -> &ChunkStream {
        &self.chunks
    }

    /// Takes the body out.
    pub fn into_chunks(self) -> ChunkStream {
        self.chunks
    }
}
