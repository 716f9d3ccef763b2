//! The peers chunkstream is measured against, in the same groups and tables: the naive
//! per-item path, `axum-streams` (defaults and with its buffering options; its CSV and
//! its JSON envelope), and the limit.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use axum_streams::{CsvStreamFormat, StreamBodyAs, StreamBodyAsOptions, Terminator};
use bytes::Bytes;
use chunkstream::BoxError;
use futures_util::{FutureExt, Stream, StreamExt, TryStreamExt};
use serde::Serialize;

use crate::formats;
use crate::scenario::{Chunks, ChunksFactory, Framing, Limit, Scenario, Streaming};

/// The in-memory source: the items of a leaked slice, by reference (no clone).
pub fn memory<T: Sync>(
    items: &'static [T],
) -> impl Stream<Item = Result<&'static T, Infallible>> + Send + 'static {
    chunkstream::source::from_iter(items.iter())
}

/// A peer of chunkstream, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PeerKind {
    /// One `serde_json::to_vec` (plus the separator) and one `Bytes` per item.
    Naive,
    /// `axum-streams` `json_array` with its defaults.
    AxumStreams,
    /// `axum-streams` buffering ready items (`buffering_ready_items(1000)`).
    AxumStreamsItems,
    /// `axum-streams` buffering bytes (`buffering_bytes(32 KiB)`).
    AxumStreamsBytes,
    /// `axum-streams` CSV (`CsvStreamFormat`, with chunkstream's defaults: a header row
    /// and `\r\n`, so the bodies are the same), with its default options.
    AxumStreamsCsv,
    /// `axum-streams` `json_array_with_envelope` with the fields chunkstream's envelope
    /// has before the array ([`formats::envelope_fields`]); it has none after.
    AxumStreamsEnvelope,
    /// The `csv` crate's writer over every item into one `Vec` (header row, `\r\n`),
    /// sent as one chunk: what chunkstream's own CSV serializer is weighed against.
    CsvCrate,
}

/// The JSON array's streaming peers, in report order (the limit is separate: see
/// [`Limit`]).
pub const PEERS: [PeerKind; 4] = [
    PeerKind::Naive,
    PeerKind::AxumStreams,
    PeerKind::AxumStreamsItems,
    PeerKind::AxumStreamsBytes,
];

/// The other formats' peers, in report order (each measured in its
/// [`framing`](PeerKind::framing), against that format's own limit).
pub const FORMAT_PEERS: [PeerKind; 3] = [
    PeerKind::AxumStreamsCsv,
    PeerKind::CsvCrate,
    PeerKind::AxumStreamsEnvelope,
];

/// Items `axum-streams` buffers in the `AxumStreamsItems` variant.
pub const AXUM_STREAMS_ITEMS: usize = 1000;
/// Bytes `axum-streams` buffers in the `AxumStreamsBytes` variant.
pub const AXUM_STREAMS_BYTES: usize = 32 * 1024; // 32 KiB, chunkstream's default threshold

impl PeerKind {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            PeerKind::Naive => "naive",
            PeerKind::AxumStreams => "axum-streams",
            PeerKind::AxumStreamsItems => "axum-streams items=1000",
            PeerKind::AxumStreamsBytes => "axum-streams bytes=32KiB",
            PeerKind::AxumStreamsCsv => "axum-streams csv",
            PeerKind::AxumStreamsEnvelope => "axum-streams envelope",
            PeerKind::CsvCrate => "csv crate, one writer",
        }
    }

    /// The framing of its bodies.
    pub fn framing(self) -> Framing {
        match self {
            PeerKind::AxumStreamsCsv | PeerKind::CsvCrate => Framing::Csv,
            PeerKind::AxumStreamsEnvelope => Framing::Envelope,
            _ => Framing::Array,
        }
    }

    /// The response of `source` as this peer writes it.
    pub fn response<S, U, E>(self, source: S) -> Response
    where
        S: Stream<Item = Result<U, E>> + Send + 'static,
        U: Serialize + Send + Sync + 'static,
        E: Into<BoxError> + 'static,
    {
        match self {
            PeerKind::Naive => Response::new(Body::from_stream(naive(source))),
            PeerKind::AxumStreams => axum_streams(StreamBodyAsOptions::new(), source),
            PeerKind::AxumStreamsItems => axum_streams(
                StreamBodyAsOptions::new().buffering_ready_items(AXUM_STREAMS_ITEMS),
                source,
            ),
            PeerKind::AxumStreamsBytes => axum_streams(
                StreamBodyAsOptions::new().buffering_bytes(AXUM_STREAMS_BYTES),
                source,
            ),
            PeerKind::AxumStreamsCsv => {
                let csv = CsvStreamFormat::new(true, b',').with_terminator(Terminator::CRLF);
                StreamBodyAs::new(csv, axum_errors(source)).into_response()
            }
            PeerKind::AxumStreamsEnvelope => StreamBodyAsOptions::new()
                .json_array_with_envelope_errors(
                    axum_errors(source),
                    formats::envelope_fields(),
                    formats::ARRAY,
                )
                .into_response(),
            PeerKind::CsvCrate => Response::new(Body::from_stream(csv_crate(source))),
        }
    }

    /// The body of [`response`](PeerKind::response), read as its HTTP data frames.
    pub fn body<S, U, E>(self, source: S) -> Chunks
    where
        S: Stream<Item = Result<U, E>> + Send + 'static,
        U: Serialize + Send + Sync + 'static,
        E: Into<BoxError> + 'static,
    {
        self.response(source)
            .into_body()
            .into_data_stream()
            .map_err(BoxError::from)
            .boxed()
    }

    /// A factory of this peer's bodies over `source()`.
    pub fn factory<F, S, U, E>(self, source: F) -> ChunksFactory
    where
        F: Fn() -> S + Send + Sync + 'static,
        S: Stream<Item = Result<U, E>> + Send + 'static,
        U: Serialize + Send + Sync + 'static,
        E: Into<BoxError> + 'static,
    {
        Arc::new(move || self.body(source()))
    }
}

/// The naive path: every item in its own `Vec` (`serde_json::to_vec`, with the array
/// separator written first) and its own `Bytes`; `[` and `]` are static.
pub fn naive<S, U, E>(source: S) -> Chunks
where
    S: Stream<Item = Result<U, E>> + Send + 'static,
    U: Serialize + Send + 'static,
    E: Into<BoxError> + 'static,
{
    let open = futures_util::stream::once(async { Ok(Bytes::from_static(b"[")) });
    let close = futures_util::stream::once(async { Ok(Bytes::from_static(b"]")) });
    let items = source.enumerate().map(|(i, item)| {
        let item = item.map_err(Into::into)?;
        let mut out = Vec::with_capacity(128); // what serde_json::to_vec starts with
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, &item)?;
        Ok(Bytes::from(out))
    });
    open.chain(items).chain(close).boxed()
}

/// The `csv` crate's writer over every item of `source` into one `Vec`, as one chunk.
fn csv_crate<S, U, E>(source: S) -> Chunks
where
    S: Stream<Item = Result<U, E>> + Send + 'static,
    U: Serialize + Send + 'static,
    E: Into<BoxError> + 'static,
{
    let writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    source
        .map_err(Into::into)
        .try_fold(writer, |mut writer, item| {
            let written = writer.serialize(item).map(|()| writer);
            futures_util::future::ready(written.map_err(BoxError::from))
        })
        .map(|writer| {
            Ok(Bytes::from(
                writer?.into_inner().map_err(|e| e.to_string())?,
            ))
        })
        .into_stream()
        .boxed()
}

/// An `axum-streams` JSON array response with `options`.
pub fn axum_streams<S, U, E>(options: StreamBodyAsOptions, source: S) -> Response
where
    S: Stream<Item = Result<U, E>> + Send + 'static,
    U: Serialize + Send + Sync + 'static,
    E: Into<BoxError> + 'static,
{
    options
        .json_array_with_errors(axum_errors(source))
        .into_response()
}

/// `source` with its errors as axum's.
fn axum_errors<S, U, E>(source: S) -> impl Stream<Item = Result<U, axum::Error>> + Send
where
    S: Stream<Item = Result<U, E>> + Send,
    E: Into<BoxError>,
{
    source.map_err(|e| axum::Error::new(e.into()))
}

/// A peer's scenario, or the limit's.
pub struct Named {
    /// The peer; `None` for the limit.
    pub peer: Option<PeerKind>,
    /// The scenario.
    pub scenario: Box<dyn Scenario>,
}

impl Named {
    /// Name in reports.
    pub fn name(&self) -> &'static str {
        self.peer.map_or(LIMIT, PeerKind::name)
    }
}

impl std::fmt::Debug for Named {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Named")
            .field("name", &self.name())
            .finish_non_exhaustive()
    }
}

/// Every streaming peer over the in-memory `items`, then the limit.
pub fn all<T: Serialize + Send + Sync + 'static>(items: &'static [T]) -> Vec<Named> {
    let mut out: Vec<Named> = PEERS
        .iter()
        .map(|&peer| Named {
            peer: Some(peer),
            scenario: Box::new(Streaming(peer.factory(move || memory(items)))),
        })
        .collect();
    out.push(Named {
        peer: None,
        scenario: Box::new(Limit::new(items)),
    });
    out
}

/// The limit's name in reports.
pub const LIMIT: &str = "limit";
