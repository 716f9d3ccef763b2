//! [`ChunkStream::collect_bytes`]: the whole body in one `Bytes`, without the
//! `StreamExt::collect` / `BodyExt::collect` ambiguity.
//!
//! A [`ChunkStream`] is both a `futures::Stream` and an `http_body::Body`, so with
//! `futures_util::StreamExt` and `http_body_util::BodyExt` both in scope, `chunks.collect()`
//! does not compile (two traits offer `collect`). Call the inherent
//! [`collect_bytes`](ChunkStream::collect_bytes) instead, or name the trait:
//! `StreamExt::collect::<Vec<_>>(chunks)` for the chunks one by one,
//! `BodyExt::collect(chunks)` for http-body's `Collected`.

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;

use crate::error::StreamError;
use crate::stream::ChunkStream;

impl ChunkStream {
    /// Reads the whole stream and returns its chunks concatenated: the complete body.
    ///
    /// A body of one chunk is returned as that chunk, without a copy (its buffer goes back
    /// to the pool when the `Bytes` is dropped); the chunks of a longer body are copied
    /// into one growing buffer, each going back to its pool once copied.
    ///
    /// # Errors
    ///
    /// The [`StreamError`] that ended the stream, if any; the chunks read before it are
    /// dropped (a partial body is never returned as if it were whole).
    ///
    /// # Examples
    ///
    /// With both extension traits in scope, `collect` would be ambiguous;
    /// `collect_bytes` is not:
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// #[allow(unused_imports)]
    /// use futures_util::StreamExt;
    /// #[allow(unused_imports)]
    /// use http_body_util::BodyExt;
    /// use chunkstream::{ChunkConfig, Streamer, source};
    ///
    /// let streamer = Streamer::new(ChunkConfig::default())?;
    /// let body = streamer.json(source::from_iter(1..=3)).collect_bytes().await?;
    /// assert_eq!(&body[..], b"[1,2,3]");
    /// # Ok::<_, Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn collect_bytes(mut self) -> Result<Bytes, StreamError> {
        let Some(first) = self.next().await.transpose()? else {
            return Ok(Bytes::new());
        };
        let Some(second) = self.next().await.transpose()? else {
            return Ok(first);
        };
        let mut body = BytesMut::with_capacity(first.len() + second.len());
        body.extend_from_slice(&first);
        body.extend_from_slice(&second);
        drop((first, second));
        while let Some(chunk) = self.next().await {
            body.extend_from_slice(&chunk?);
        }
        Ok(body.freeze())
    }
}
