//! Zero-copy chunks: encoding into a pooled buffer and handing it out as `Bytes`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use bytes::Bytes;
use serde::Serialize;

use crate::encode::Encoder;
use crate::error::StreamError;
use crate::format::Format;
use crate::pool::BufferPool;

/// A pooled buffer owned by a [`Bytes`]: when the last `Bytes` referring to it drops, the
/// buffer goes back to its pool (the pool clears it, or drops it if it grew too large).
///
/// Made by [`ChunkWriter`]; `Bytes::from_owner` keeps the bytes where they were encoded,
/// so no byte is copied between the encoder and the socket.
pub(crate) struct PooledChunk<P: BufferPool> {
    pub(crate) buf: Vec<u8>,
    pub(crate) pool: Arc<P>,
}

impl<P: BufferPool> AsRef<[u8]> for PooledChunk<P> {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl<P: BufferPool> Drop for PooledChunk<P> {
    fn drop(&mut self) {
        self.pool.put(std::mem::take(&mut self.buf));
    }
}

/// Frames and encodes items into the current pooled buffer and cuts it into chunks.
///
/// An item is encoded once, straight into the buffer, and never split across chunks; an
/// item larger than the buffer grows it (the pool then refuses to keep it).
pub(crate) struct ChunkWriter<P: BufferPool, E> {
    pool: Arc<P>,
    encoder: E,
    format: Format,
    threshold: usize,
    buf: Vec<u8>,
    /// Whether `buf` came from the pool (an empty `Vec` placeholder otherwise).
    holds_buffer: bool,
    written: u64,
    chunks: u64,
}

impl<P: BufferPool, E: Encoder> ChunkWriter<P, E> {
    pub(crate) fn new(pool: Arc<P>, encoder: E, format: Format, threshold: usize) -> Self {
        ChunkWriter {
            pool,
            encoder,
            format,
            threshold,
            buf: Vec::new(),
            holds_buffer: false,
            written: 0,
            chunks: 0,
        }
    }

    /// Items written so far; also the index of the next item.
    pub(crate) fn written(&self) -> u64 {
        self.written
    }

    /// Chunks handed out so far.
    pub(crate) fn chunks(&self) -> u64 {
        self.chunks
    }

    /// Bytes waiting in the current buffer.
    pub(crate) fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Whether the current buffer has reached the chunk threshold.
    pub(crate) fn is_full(&self) -> bool {
        self.buf.len() >= self.threshold
    }

    /// Takes a buffer from the pool if the writer holds none.
    fn ensure_buffer(&mut self) {
        if !self.holds_buffer {
            self.buf = self.pool.get();
            self.holds_buffer = true;
        }
    }

    /// Frames and encodes one item. On failure the buffer is as it was before the call.
    ///
    /// # Errors
    ///
    /// [`StreamError::Encode`] if the encoder refuses the item, [`StreamError::Panicked`]
    /// if its `Serialize` implementation panics.
    pub(crate) fn write<T: Serialize + ?Sized>(&mut self, item: &T) -> Result<(), StreamError> {
        let index = self.written;
        self.ensure_buffer();
        let (format, encoder, buf) = (self.format, &self.encoder, &mut self.buf);
        let start = buf.len();
        format.write_prefix(index, buf);
        let encoded = catch_unwind(AssertUnwindSafe(|| encoder.encode(item, buf)));
        match encoded {
            Ok(Ok(())) => {
                format.write_suffix(buf);
                self.written += 1;
                Ok(())
            }
            Ok(Err(source)) => {
                buf.truncate(start);
                Err(StreamError::Encode { index, source })
            }
            Err(payload) => {
                buf.truncate(start);
                Err(StreamError::panicked(Some(index), payload))
            }
        }
    }

    /// Frames one item that is already JSON and copies its bytes as they are: no encoder,
    /// no check (the caller vouches that `json` is one JSON value).
    pub(crate) fn write_raw(&mut self, json: &[u8]) {
        let index = self.written;
        self.ensure_buffer();
        self.format.write_prefix(index, &mut self.buf);
        self.buf.extend_from_slice(json);
        self.format.write_suffix(&mut self.buf);
        self.written += 1;
    }

    /// Hands out the current buffer as a chunk, if it holds any byte.
    pub(crate) fn take_chunk(&mut self) -> Option<Bytes> {
        if self.buf.is_empty() {
            return None;
        }
        self.holds_buffer = false;
        self.chunks += 1;
        let buf = std::mem::take(&mut self.buf);
        Some(Bytes::from_owner(PooledChunk {
            buf,
            pool: Arc::clone(&self.pool),
        }))
    }

    /// Closes the body (`]` or `[]` for a JSON array) and hands out the last chunk.
    pub(crate) fn finish(&mut self) -> Option<Bytes> {
        let (format, written) = (self.format, self.written);
        if format.has_end() {
            self.ensure_buffer();
            format.write_end(written, &mut self.buf);
        }
        self.take_chunk()
    }
}

impl<P: BufferPool, E> ChunkWriter<P, E> {
    /// Gives the current buffer back to the pool, discarding what it holds.
    pub(crate) fn release(&mut self) {
        if self.holds_buffer {
            self.holds_buffer = false;
            self.pool.put(std::mem::take(&mut self.buf));
        }
    }
}

impl<P: BufferPool, E> Drop for ChunkWriter<P, E> {
    fn drop(&mut self) {
        self.release();
    }
}
