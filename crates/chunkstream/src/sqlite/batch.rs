//! What a statement's thread gathers its rows into before handing them to the stream:
//! values made by the caller's `map` ([`Mapped`]), or JSON written right there
//! ([`Json`]), so that only finished text crosses threads.

use bytes::Bytes;
use rusqlite::Row;
use serde::Serialize;

use super::Error;
use crate::encode::Encoder;
use crate::raw::RawJson;

/// Rows read into one batch at most before it is handed over.
pub(super) const BATCH_ROWS: usize = 256;

/// Rows read into a batch on the statement's thread.
pub(super) trait Batch: Send {
    /// What the stream yields per row.
    type Item: Send + 'static;
    /// Reads `row` into the batch (a row may be left out: see [`Json`]).
    fn push(&mut self, row: &Row<'_>) -> Result<(), Error>;
    /// Rows in the batch.
    fn len(&self) -> usize;
    /// The batch's rows, leaving it empty.
    fn take(&mut self) -> Vec<Self::Item>;
}

/// Each row made into a `T` by `map`.
pub(super) struct Mapped<T, F> {
    map: F,
    rows: Vec<T>,
}

impl<T, F> Mapped<T, F> {
    pub(super) fn new(map: F) -> Self {
        Mapped {
            map,
            rows: Vec::new(),
        }
    }
}

impl<T, F> Batch for Mapped<T, F>
where
    T: Send + 'static,
    F: FnMut(&Row<'_>) -> rusqlite::Result<T> + Send,
{
    type Item = T;

    fn push(&mut self, row: &Row<'_>) -> Result<(), Error> {
        self.rows.push((self.map)(row)?);
        Ok(())
    }

    fn len(&self) -> usize {
        self.rows.len()
    }

    fn take(&mut self) -> Vec<T> {
        std::mem::replace(&mut self.rows, Vec::with_capacity(BATCH_ROWS))
    }
}

/// Each row's JSON written by `write` into one buffer per batch, handed over as
/// [`RawJson`] items that share it (no allocation per row). `write` appends the row's
/// JSON to the buffer, given the row's number, and says whether the row is an item
/// (`false`: it wrote nothing and the row is left out).
pub(super) struct Json<W> {
    write: W,
    json: Vec<u8>,
    /// Where each row's JSON ends in `json`.
    ends: Vec<usize>,
    /// Rows read so far, for an error's row number.
    read: u64,
}

impl<W> Json<W> {
    pub(super) fn new(write: W) -> Self {
        Json {
            write,
            json: Vec::new(),
            ends: Vec::new(),
            read: 0,
        }
    }
}

impl<W> Batch for Json<W>
where
    W: FnMut(&Row<'_>, &mut Vec<u8>, u64) -> Result<bool, Error> + Send,
{
    type Item = RawJson;

    fn push(&mut self, row: &Row<'_>) -> Result<(), Error> {
        let start = self.json.len();
        let number = self.read;
        self.read += 1;
        match (self.write)(row, &mut self.json, number) {
            Ok(true) => self.ends.push(self.json.len()),
            Ok(false) => {}
            Err(err) => {
                self.json.truncate(start);
                return Err(err);
            }
        }
        Ok(())
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    fn take(&mut self) -> Vec<RawJson> {
        let capacity = self.json.len();
        let json = Bytes::from(std::mem::replace(
            &mut self.json,
            Vec::with_capacity(capacity),
        ));
        let mut start = 0;
        self.ends
            .drain(..)
            .map(|end| {
                let item = RawJson::from(json.slice(start..end));
                start = end;
                item
            })
            .collect()
    }
}

/// [`encoded_rows`](super::encoded_rows)' `write`, made a [`Json`] batch's: the row's
/// value encoded with `encoder`; a row is an item if `write` encoded it.
pub(super) fn encoding<E, F>(
    encoder: E,
    mut write: F,
) -> impl FnMut(&Row<'_>, &mut Vec<u8>, u64) -> Result<bool, Error> + Send
where
    E: Encoder + Send,
    F: FnMut(&Row<'_>, RowJson<'_, E>) -> Result<(), Error> + Send,
{
    move |row, out, number| {
        let start = out.len();
        write(
            row,
            RowJson {
                encoder: &encoder,
                out,
                row: number,
            },
        )?;
        Ok(out.len() > start)
    }
}

/// Where [`encoded_rows`](super::encoded_rows)'s `write` puts one row's JSON: call
/// [`encode`](Self::encode) once with the row's value (which may borrow the row's text,
/// so no column needs a `String`), or not at all to leave the row out.
pub struct RowJson<'a, E> {
    encoder: &'a E,
    out: &'a mut Vec<u8>,
    row: u64,
}

impl<E: Encoder> RowJson<'_, E> {
    /// Encodes `value` as the row's JSON, with the stream's encoder.
    ///
    /// # Errors
    ///
    /// [`Error::Encode`] with the row's number (from 0) when the encoder refuses the
    /// value (a non-finite float, a map key that cannot be a string); nothing of it is
    /// kept, and the stream ends with that error.
    pub fn encode<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        self.encoder
            .encode(value, self.out)
            .map_err(|source| Error::Encode {
                row: self.row,
                source,
            })
    }
}

impl<E> std::fmt::Debug for RowJson<'_, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowJson")
            .field("row", &self.row)
            .finish_non_exhaustive()
    }
}
