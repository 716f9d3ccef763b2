//! A format defined outside the crate: RFC 7464 JSON text sequences
//! (`application/json-seq`, each item `RS item LF`), streamed on every path: per item and
//! per batch, on the caller's task and spawned, with one encoding worker and with two
//! (the parallel path), for typed, trusted raw and validated raw items. Every body is the
//! same bytes.

use chunkstream::{ChunkConfig, ChunkStream, Format, RawJson, Streamer, Validated, source};

/// RFC 7464: a record separator before each item, a line feed after it.
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

#[derive(serde::Serialize)]
struct Reading {
    id: u32,
    celsius: f64,
}

fn reading(id: u32) -> Reading {
    Reading {
        id,
        celsius: f64::from(id) / 4.0,
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    const N: u32 = 5_000;
    // Small batches and chunks, so that the parallel path has many batches to order.
    let config = ChunkConfig::with_sizes(4096, 2048).with_batch_size(100);
    let base = Streamer::new(config)?.with_format(JsonSeq);
    let ids = || source::from_iter(0..N);
    let typed = |id: u32| Ok::<_, std::convert::Infallible>(reading(id));
    let text = |id: u32| serde_json::to_string(&reading(id)).unwrap();
    let mut bodies = Vec::new();
    for workers in [1, 2] {
        let streamer = base.clone().with_encode_workers(workers);
        let each =
            move |batch: Vec<u32>| batch.into_iter().map(typed).collect::<Result<Vec<_>, _>>();
        let raw = move |batch: Vec<u32>| {
            Ok::<_, std::convert::Infallible>(
                batch
                    .into_iter()
                    .map(|id| RawJson::from(text(id)))
                    .collect(),
            )
        };
        let checked = move |batch: Vec<u32>| {
            Ok::<_, std::convert::Infallible>(
                batch
                    .into_iter()
                    .map(|id| Validated::new(text(id)))
                    .collect(),
            )
        };
        let paths: Vec<(&str, ChunkStream)> = vec![
            ("item", streamer.stream(ids(), typed)),
            ("item, spawned", streamer.stream(ids(), typed).spawn()),
            ("batch", streamer.stream_batch(ids(), each)),
            ("batch, spawned", streamer.stream_batch(ids(), each).spawn()),
            ("batch, trusted raw", streamer.stream_batch(ids(), raw)),
            (
                "batch, validated raw, spawned",
                streamer.stream_batch(ids(), checked).spawn(),
            ),
        ];
        for (path, chunks) in paths {
            assert_eq!(chunks.content_type(), "application/json-seq");
            let body = chunks.collect_bytes().await?;
            println!("workers {workers}, {path}: {} bytes", body.len());
            bodies.push(body);
        }
    }
    let first = &bodies[0];
    let records: Vec<&[u8]> = first.split(|&b| b == 0x1e).skip(1).collect();
    assert_eq!(records.len(), N as usize);
    assert!(records.iter().all(|record| record.ends_with(b"\n")));
    let same = bodies.iter().all(|body| body == first);
    println!(
        "records: {}, every path the same bytes: {same}",
        records.len()
    );
    println!("first record: {:?}", String::from_utf8_lossy(records[0]));
    assert!(same);
    Ok(())
}
