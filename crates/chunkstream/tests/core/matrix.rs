//! The whole matrix: item kind (typed, trusted raw, validated raw) x unit (item, batch) x
//! task (direct, spawned) x encoding workers (1, 2) x format (JSON array, NDJSON, and
//! RFC 7464 JSON text sequences defined here, outside the crate). Every cell must give
//! the reference's bytes (each item as `serde_json::to_writer` writes it, framed); fail
//! with the same bytes and the same error as the sequential run of its unit for every
//! failure (source error, source panic, transform error, transform panic, a refused
//! item); and yield `Cancelled` as its very next item once its token is cancelled.

use std::sync::Arc;

use chunkstream::encode::SerdeJson;
use chunkstream::format::{JsonArray, Ndjson};
use chunkstream::pool::DefaultPool;
use chunkstream::{
    CancellationToken, ChunkConfig, ChunkStream, Format, FromPoolConfig, Item, RawJson,
    StreamError, Streamer, Validated,
};
use futures_util::StreamExt;
use proptest::prelude::*;
use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::common::{concat, describe, drain, runtime};

/// RFC 7464: every item is `RS item LF`; a user's own format, on every path.
#[derive(Clone, Copy, Debug)]
struct JsonSeq;

impl Format for JsonSeq {
    fn content_type(&self) -> &'static str {
        "application/json-seq"
    }
    fn item_prefix(&self, out: &mut Vec<u8>) {
        out.push(0x1e);
    }
    fn item_suffix(&self, out: &mut Vec<u8>) {
        out.push(b'\n');
    }
}

/// How an item fails, if it does.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fail {
    SourceError,
    SourcePanic,
    TransformError,
    TransformPanic,
    /// Refused when written: a non-finite float (typed), invalid JSON (validated raw);
    /// a trusted raw item is not checked, so it is written.
    Refused,
}

const FAILS: [Fail; 5] = [
    Fail::SourceError,
    Fail::SourcePanic,
    Fail::TransformError,
    Fail::TransformPanic,
    Fail::Refused,
];

#[derive(Clone, Debug)]
struct Src {
    value: Value,
    fail: Option<Fail>,
}

/// A typed item: the value, or a NaN the encoder refuses.
struct Typed(Option<Value>);

impl Serialize for Typed {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Some(value) => value.serialize(serializer),
            None => f64::NAN.serialize(serializer),
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Typed,
    Trusted,
    Validated,
}

#[derive(Clone, Copy, Debug)]
enum Unit {
    Item,
    Batch,
}

#[derive(Clone, Copy, Debug)]
struct Cell {
    kind: Kind,
    unit: Unit,
    spawned: bool,
    workers: usize,
}

fn cells() -> impl Iterator<Item = Cell> {
    [Kind::Typed, Kind::Trusted, Kind::Validated]
        .into_iter()
        .flat_map(|kind| [Unit::Item, Unit::Batch].map(|unit| (kind, unit)))
        .flat_map(|(kind, unit)| [false, true].map(|spawned| (kind, unit, spawned)))
        .flat_map(|(kind, unit, spawned)| {
            [1, 2].map(|workers| Cell {
                kind,
                unit,
                spawned,
                workers,
            })
        })
}

/// The transform: fails as told, else makes the item of the cell's kind.
fn transformed<O>(src: Src, make: fn(Src) -> O) -> Result<O, String> {
    match src.fail {
        Some(Fail::TransformError) => Err("transform refused".to_owned()),
        Some(Fail::TransformPanic) => panic!("transform panicked"),
        _ => Ok(make(src)),
    }
}

/// The item's JSON text, or `bad` for an item to refuse.
fn json_of(src: &Src, bad: &str) -> String {
    match src.fail {
        Some(Fail::Refused) => bad.to_owned(),
        _ => serde_json::to_string(&src.value).unwrap(),
    }
}

/// Starts `cell` over `items` with `format`, the item kind given by `to`.
fn start_kind<F: Format, O: Item + Send + 'static>(
    streamer: &Streamer<DefaultPool, SerdeJson, F>,
    cell: Cell,
    items: impl futures_util::Stream<Item = Result<Src, String>> + Send + 'static,
    make: fn(Src) -> O,
) -> ChunkStream {
    let per_item = move |src: Src| transformed(src, make);
    let chunks = match cell.unit {
        Unit::Item => streamer.stream(items, per_item),
        Unit::Batch => streamer.stream_batch(items, move |batch: Vec<Src>| {
            batch
                .into_iter()
                .map(per_item)
                .collect::<Result<Vec<_>, _>>()
        }),
    };
    if cell.spawned { chunks.spawn() } else { chunks }
}

fn start<F: Format>(
    config: &ChunkConfig,
    format: F,
    cell: Cell,
    items: impl futures_util::Stream<Item = Result<Src, String>> + Send + 'static,
) -> ChunkStream {
    let pool = Arc::new(DefaultPool::try_from_pool_config(config.pool).unwrap());
    let streamer = Streamer::with_parts(config.clone(), pool, SerdeJson)
        .unwrap()
        .with_encode_workers(cell.workers)
        .with_format(format);
    match cell.kind {
        Kind::Typed => start_kind(&streamer, cell, items, |src| {
            Typed((src.fail != Some(Fail::Refused)).then_some(src.value))
        }),
        // A trusted item is not checked: the "bad" one is valid JSON, written as is.
        Kind::Trusted => start_kind(&streamer, cell, items, |src| {
            RawJson::from(json_of(&src, &serde_json::to_string(&src.value).unwrap()))
        }),
        Kind::Validated => start_kind(&streamer, cell, items, |src| {
            Validated::new(json_of(&src, "{oops"))
        }),
    }
}

fn source(items: Vec<Src>) -> impl futures_util::Stream<Item = Result<Src, String>> + Send {
    futures_util::stream::iter(items).map(|src| match src.fail {
        Some(Fail::SourceError) => Err("source failed".to_owned()),
        Some(Fail::SourcePanic) => panic!("source panicked"),
        _ => Ok(src),
    })
}

/// The reference body: each item as `serde_json::to_writer` writes it, framed.
fn reference<F: Format>(mut format: F, items: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    if items.is_empty() {
        format.empty(&mut out);
        return out;
    }
    format.open(&mut out);
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            format.separator(&mut out);
        }
        format.item_prefix(&mut out);
        serde_json::to_writer(&mut out, item).unwrap();
        format.item_suffix(&mut out);
    }
    format.close(items.len() as u64, &mut out);
    out
}

fn check_format<F: Format>(format: F, config: &ChunkConfig, values: &[Value], fail_at: usize) {
    let rt = runtime();
    let expected = reference(format.clone(), values);
    let plain: Vec<Src> = values
        .iter()
        .map(|value| Src {
            value: value.clone(),
            fail: None,
        })
        .collect();
    let name = format.content_type();
    for cell in cells() {
        // Success: the reference's bytes, in chunks of at least the threshold but the last.
        let (chunks, err) = rt.block_on(async {
            drain(start(config, format.clone(), cell, source(plain.clone()))).await
        });
        assert!(err.is_none(), "{name} {cell:?}: {err:?}");
        assert_eq!(concat(&chunks), expected, "{name} {cell:?}");
        if let Some((_, full)) = chunks.split_last() {
            for chunk in full {
                assert!(
                    chunk.len() >= config.chunk_threshold,
                    "{name} {cell:?}: short chunk"
                );
            }
        }
    }
    if values.is_empty() {
        return;
    }
    let at = fail_at % values.len();
    for fail in FAILS {
        let mut items = plain.clone();
        items[at].fail = Some(fail);
        for unit in [Unit::Item, Unit::Batch] {
            for kind in [Kind::Typed, Kind::Trusted, Kind::Validated] {
                let sequential = Cell {
                    kind,
                    unit,
                    spawned: false,
                    workers: 1,
                };
                let (want_chunks, want_err) = rt.block_on(async {
                    drain(start(
                        config,
                        format.clone(),
                        sequential,
                        source(items.clone()),
                    ))
                    .await
                });
                let want = (concat(&want_chunks), describe(&want_err));
                let trusted_refused = matches!(kind, Kind::Trusted) && fail == Fail::Refused;
                assert_eq!(
                    want_err.is_none(),
                    trusted_refused,
                    "{name} {fail:?} {kind:?} {unit:?}"
                );
                // What went out is a prefix of the reference, never the whole body.
                if !trusted_refused {
                    assert!(
                        expected.starts_with(&want.0) && want.0 != expected,
                        "{name} {fail:?}"
                    );
                }
                for spawned in [false, true] {
                    for workers in [1, 2] {
                        let cell = Cell {
                            kind,
                            unit,
                            spawned,
                            workers,
                        };
                        let (chunks, err) = rt.block_on(async {
                            drain(start(config, format.clone(), cell, source(items.clone()))).await
                        });
                        assert_eq!(
                            (concat(&chunks), describe(&err)),
                            want,
                            "{name} {fail:?} {cell:?}"
                        );
                    }
                }
            }
        }
    }
}

/// Cancelling after the first chunk makes `Cancelled` the very next item on every cell.
fn check_cancel<F: Format>(format: F) {
    let config = ChunkConfig::with_sizes(64, 32);
    let name = format.content_type();
    for cell in cells() {
        let endless = futures_util::stream::iter((0_u64..).map(|i| {
            Ok(Src {
                value: Value::from(i),
                fail: None,
            })
        }));
        let token = CancellationToken::new();
        runtime().block_on(async {
            let mut chunks = start(&config, format.clone(), cell, endless).cancel_on(token.clone());
            assert!(
                matches!(chunks.next().await, Some(Ok(_))),
                "{name} {cell:?}"
            );
            token.cancel();
            let next = chunks.next().await;
            assert!(
                matches!(next, Some(Err(StreamError::Cancelled))),
                "{name} {cell:?}: {next:?}"
            );
            assert!(chunks.next().await.is_none(), "{name} {cell:?}");
        });
    }
}

fn config() -> impl Strategy<Value = ChunkConfig> {
    (6_u32..14)
        .prop_flat_map(|exp| (1_usize << exp)..=(1_usize << (exp + 1)))
        .prop_flat_map(|buffer| (Just(buffer), 1..=buffer, 1_usize..=16, 1_usize..=4))
        .prop_map(|(buffer, threshold, batch, capacity)| {
            ChunkConfig::with_sizes(buffer, threshold)
                .with_batch_size(batch)
                .with_channel_capacity(capacity)
        })
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        "[\"\\\\\n\u{2028}é😀]{0,6}".prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn every_cell_matches_the_reference(
        config in config(),
        values in prop::collection::vec(value(), 0..24),
        fail_at in any::<usize>(),
    ) {
        check_format(JsonArray, &config, &values, fail_at);
        check_format(Ndjson, &config, &values, fail_at);
        check_format(JsonSeq, &config, &values, fail_at);
    }
}

#[test]
fn every_cell_yields_cancelled_next() {
    check_cancel(JsonArray);
    check_cancel(Ndjson);
    check_cancel(JsonSeq);
}

/// The JSON array reference is `serde_json::to_writer` of the whole `Vec`, and an NDJSON
/// body is exactly one value per line, each line parsed on its own.
#[test]
fn the_references_are_serde_jsons() {
    let values: Vec<Value> = (0..5)
        .map(|i| serde_json::json!({"i": i, "s": "a\nb"}))
        .collect();
    let mut whole = Vec::new();
    serde_json::to_writer(&mut whole, &values).unwrap();
    assert_eq!(reference(JsonArray, &values), whole);
    let ndjson = reference(Ndjson, &values);
    let lines: Vec<&[u8]> = ndjson
        .strip_suffix(b"\n")
        .unwrap()
        .split(|&b| b == b'\n')
        .collect();
    assert_eq!(lines.len(), values.len());
    for (line, value) in lines.iter().zip(&values) {
        assert_eq!(&serde_json::from_slice::<Value>(line).unwrap(), value);
    }
}
