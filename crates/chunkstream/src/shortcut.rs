//! The shortest paths: [`Streamer::json`] and [`Streamer::ndjson`] take a stream of
//! `Serialize` items and nothing else.

use serde::Serialize;

use futures_core::Stream;

use crate::encode::Encoder;
use crate::error::BoxError;
use crate::format::Format;
use crate::pool::BufferPool;
use crate::stream::ChunkStream;
use crate::streamer::Streamer;
use crate::transform;

impl<P: BufferPool, E: Encoder> Streamer<P, E> {
    /// Streams the items of `source` as one JSON array, unchanged (no transform), whatever
    /// this streamer's [`format`](Streamer::format).
    ///
    /// `source` is any fallible stream of `Serialize` items: an sqlx query through
    /// [`sql::rows`](crate::sql), a channel, or [`source::from_iter`](crate::source::from_iter)
    /// over a collection. For a response, finish with
    /// [`respond`](ChunkStream::respond)`().await`, which answers an error before the
    /// first chunk with an error status.
    ///
    /// Same as [`stream`](Streamer::stream) with [`transform::passthrough`] on a
    /// [`Format::JsonArray`] streamer.
    ///
    /// # Errors
    ///
    /// The stream's last item is the [`StreamError`](crate::StreamError) that ended it
    /// early: the source's error (`Source`), an item that could not be encoded
    /// (`Encode`), or a panic (`Panicked`).
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use chunkstream::{ChunkConfig, Streamer, source};
    ///
    /// #[derive(serde::Serialize)]
    /// struct Ticket { id: u32 }
    ///
    /// let streamer = Streamer::new(ChunkConfig::default())?;
    /// let tickets = source::from_iter((1..=2).map(|id| Ticket { id }));
    /// let body = streamer.json(tickets).collect_bytes().await?;
    /// assert_eq!(&body[..], br#"[{"id":1},{"id":2}]"#);
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn json<S, T, SE>(&self, source: S) -> ChunkStream
    where
        S: Stream<Item = Result<T, SE>> + Send + 'static,
        SE: Into<BoxError>,
        T: Serialize + Send + 'static,
    {
        self.items(source, Format::JsonArray)
    }

    /// Streams the items of `source` as NDJSON (one JSON value per line), unchanged,
    /// whatever this streamer's [`format`](Streamer::format). See [`json`](Streamer::json).
    ///
    /// # Errors
    ///
    /// As [`json`](Streamer::json).
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use chunkstream::{ChunkConfig, Streamer, source};
    ///
    /// let streamer = Streamer::new(ChunkConfig::default())?;
    /// let body = streamer.ndjson(source::from_iter(["a", "b"])).collect_bytes().await?;
    /// assert_eq!(&body[..], b"\"a\"\n\"b\"\n");
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn ndjson<S, T, SE>(&self, source: S) -> ChunkStream
    where
        S: Stream<Item = Result<T, SE>> + Send + 'static,
        SE: Into<BoxError>,
        T: Serialize + Send + 'static,
    {
        self.items(source, Format::Ndjson)
    }

    fn items<S, T, SE>(&self, source: S, format: Format) -> ChunkStream
    where
        S: Stream<Item = Result<T, SE>> + Send + 'static,
        SE: Into<BoxError>,
        T: Serialize + Send + 'static,
    {
        if self.format() == format {
            self.stream(source, transform::passthrough())
        } else {
            self.clone()
                .with_format(format)
                .stream(source, transform::passthrough())
        }
    }
}
