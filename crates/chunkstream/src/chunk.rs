//! Zero-copy chunks: encoding into a pooled buffer and handing it out as `Bytes`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use bytes::Bytes;

use crate::encode::{EncodeError, Encoder};
use crate::error::StreamError;
use crate::format::Format;
use crate::item::Item;
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

/// Frames and encodes items into the current pooled buffer and cuts it into chunks: the
/// one writer of every path. The parallel path's workers write each batch with a batch
/// writer (no opening, no separator before the batch's first item), and the stream's
/// writer joins the batches with [`append_batch`](ChunkWriter::append_batch), writing
/// the opening or the separator itself.
///
/// An item is encoded once, straight into the buffer, and never split across chunks; an
/// item larger than the buffer grows it (the pool then refuses to keep it).
pub(crate) struct ChunkWriter<P: BufferPool, E, F> {
    pool: Arc<P>,
    encoder: E,
    format: F,
    threshold: usize,
    buf: Vec<u8>,
    /// Whether `buf` came from the pool (an empty `Vec` placeholder otherwise).
    holds_buffer: bool,
    /// Whether the first item opens the body (false for a batch writer).
    opens: bool,
    written: u64,
    chunks: u64,
    /// Whether a body failing after its first chunk ends with the format's error marker
    /// ([`Format::fail`]).
    markers: bool,
}

impl<P: BufferPool, E: Encoder, F: Format> ChunkWriter<P, E, F> {
    pub(crate) fn new(pool: Arc<P>, encoder: E, format: F, threshold: usize) -> Self {
        ChunkWriter {
            pool,
            encoder,
            format,
            threshold,
            buf: Vec::new(),
            holds_buffer: false,
            opens: true,
            written: 0,
            chunks: 0,
            markers: false,
        }
    }

    /// The same writer, ending a body that fails after its first chunk with the format's
    /// error marker when `markers` is true.
    pub(crate) fn with_markers(mut self, markers: bool) -> Self {
        self.markers = markers;
        self
    }

    /// A new writer with the same pool, encoder, format and threshold.
    pub(crate) fn blank(&self) -> Self {
        ChunkWriter::new(
            Arc::clone(&self.pool),
            self.encoder.clone(),
            self.format.clone(),
            self.threshold,
        )
        .with_markers(self.markers)
    }

    /// A writer for one batch of the parallel path: its first item gets neither the
    /// opening nor a separator (the stream's writer adds one when it appends the batch).
    pub(crate) fn for_batch(&self) -> Self {
        let mut writer = self.blank();
        writer.opens = false;
        writer
    }

    pub(crate) fn pool(&self) -> &Arc<P> {
        &self.pool
    }

    /// Items written so far; also the index of the next item.
    pub(crate) fn written(&self) -> u64 {
        self.written
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

    /// Frames and writes one item. On failure the buffer is as it was before the call.
    ///
    /// # Errors
    ///
    /// [`StreamError::Encode`] if the item is refused, [`StreamError::Panicked`] if its
    /// `Serialize` implementation panics.
    #[inline]
    pub(crate) fn write<I: Item + ?Sized>(&mut self, item: &I) -> Result<(), StreamError> {
        let index = self.written;
        self.ensure_buffer();
        let (format, encoder, buf) = (&mut self.format, &self.encoder, &mut self.buf);
        let start = buf.len();
        match (index, self.opens) {
            (0, true) => format.open(buf),
            (0, false) => {}
            _ => format.separator(buf),
        }
        match guarded(index, || item.write(encoder, format, buf)) {
            Ok(()) => {
                self.written += 1;
                Ok(())
            }
            Err(err) => {
                buf.truncate(start);
                Err(err)
            }
        }
    }

    /// Writes values until the buffer is full (`Ok(true)`: more may remain) or the values
    /// run out (`Ok(false)`).
    pub(crate) fn write_until_full<It>(&mut self, values: &mut It) -> Result<bool, StreamError>
    where
        It: Iterator,
        It::Item: Item,
    {
        while !self.is_full() {
            match values.next() {
                Some(value) => self.write(&value)?,
                None => return Ok(false),
            }
        }
        Ok(true)
    }

    /// Writes the format's keep-alive bytes after what is pending.
    pub(crate) fn keep_alive(&mut self) {
        self.ensure_buffer();
        self.format.write_keep_alive(&mut self.buf);
    }

    /// Hands out the current buffer as it is, if it holds any byte.
    pub(crate) fn take_buf(&mut self) -> Option<Vec<u8>> {
        if self.buf.is_empty() {
            return None;
        }
        self.holds_buffer = false;
        Some(std::mem::take(&mut self.buf))
    }

    /// Hands out the current buffer as a chunk, if it holds any byte.
    pub(crate) fn take_chunk(&mut self) -> Option<Bytes> {
        let buf = self.take_buf()?;
        self.chunks += 1;
        Some(Bytes::from_owner(PooledChunk {
            buf,
            pool: Arc::clone(&self.pool),
        }))
    }

    pub(crate) fn format(&self) -> &F {
        &self.format
    }

    /// Takes the format of a [`for_batch`](ChunkWriter::for_batch) writer, with what it
    /// learned from the batch's items, for [`append_batch`](ChunkWriter::append_batch)
    /// (a clone would not carry it: see [`Format::join`]); the writer keeps a clone.
    pub(crate) fn take_format(&mut self) -> F
    where
        F: Format,
    {
        let fresh = self.format.clone();
        std::mem::replace(&mut self.format, fresh)
    }

    /// Appends a batch of `count` items written by a [`for_batch`](ChunkWriter::for_batch)
    /// writer (whose format was `format`) into `bufs`: the body's format joins the batch's
    /// ([`Format::join`]), then the opening (first items of the body) or a separator, then
    /// the batch's bytes, handing each buffer that reaches the threshold to `emit`. A
    /// buffer arriving while nothing is pending is kept as it is, not copied.
    pub(crate) fn append_batch(
        &mut self,
        bufs: impl IntoIterator<Item = Vec<u8>>,
        count: u64,
        format: Option<F>,
        mut emit: impl FnMut(Bytes),
    ) {
        if let Some(format) = format {
            self.format.join(format);
        }
        if count == 0 {
            return bufs.into_iter().for_each(|buf| self.pool.put(buf));
        }
        self.ensure_buffer();
        match self.written {
            0 => self.format.open(&mut self.buf),
            _ => self.format.separator(&mut self.buf),
        }
        self.written += count;
        for buf in bufs {
            if self.buf.is_empty() {
                self.release();
                self.buf = buf;
                self.holds_buffer = true;
            } else {
                self.buf.extend_from_slice(&buf);
                self.pool.put(buf);
            }
            if self.is_full() {
                self.take_chunk().into_iter().for_each(&mut emit);
            }
        }
    }

    /// Closes the body (the closing, or the empty body) and hands out the last chunk.
    ///
    /// # Errors
    ///
    /// What [`Format::before_close`] refuses the body with (or its panic), with the last
    /// item's index; nothing of the closing is written then.
    pub(crate) fn finish(&mut self) -> Result<Option<Bytes>, StreamError> {
        if let Some(last) = self.written.checked_sub(1) {
            let (format, written) = (&mut self.format, self.written);
            guarded(last, || format.before_close(written))?;
        }
        self.ensure_buffer();
        match self.written {
            0 => self.format.empty(&mut self.buf),
            count => self.format.close(count, &mut self.buf),
        }
        let last = self.take_chunk();
        self.release();
        Ok(last)
    }

    /// Ends a body that failed with `err`: once a chunk has gone out, what is pending and
    /// (with markers on) the format's error marker go out as the last chunk; before that,
    /// nothing does (the error comes first and alone).
    pub(crate) fn fail(&mut self, err: &StreamError) -> Option<Bytes> {
        let last = if self.chunks > 0 {
            self.ensure_buffer();
            if self.markers {
                self.format.fail(self.written, err, &mut self.buf);
            }
            self.take_chunk()
        } else {
            None
        };
        self.release();
        last
    }
}

/// Runs the format's or the item's code for the item at `index`: what it refuses the
/// item with, or its panic, fails the stream with that index.
#[inline]
fn guarded(index: u64, write: impl FnOnce() -> Result<(), EncodeError>) -> Result<(), StreamError> {
    match catch_unwind(AssertUnwindSafe(write)) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(source)) => Err(StreamError::Encode { index, source }),
        Err(payload) => Err(StreamError::panicked(Some(index), payload)),
    }
}

impl<P: BufferPool, E, F> ChunkWriter<P, E, F> {
    /// Gives the current buffer back to the pool, discarding what it holds.
    pub(crate) fn release(&mut self) {
        if self.holds_buffer {
            self.holds_buffer = false;
            self.pool.put(std::mem::take(&mut self.buf));
        }
    }
}

impl<P: BufferPool, E, F> Drop for ChunkWriter<P, E, F> {
    fn drop(&mut self) {
        self.release();
    }
}
