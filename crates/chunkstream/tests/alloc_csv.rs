//! Allocations per request of the CSV format, measured with dhat (one profiler per
//! process, so one allocation test per file): a record is written straight into the
//! pooled buffer, so a CSV request allocates no more blocks than the same JSON request,
//! but for the header row, whatever the number of rows.
#![cfg(feature = "pool-freelist")]

use std::sync::Arc;

use chunkstream::format::{Csv, JsonArray};
use chunkstream::pool::FreelistPool;
use chunkstream::{ChunkConfig, Format, Streamer, encode::SerdeJson, source};
use futures_util::StreamExt;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

#[derive(serde::Serialize)]
struct Row {
    id: u64,
    title: String,
    status: &'static str,
    assignee: Option<String>,
    estimate_hours: f64,
    note: String,
}

fn rows(n: u64) -> &'static [Row] {
    let rows: Vec<Row> = (0..n)
        .map(|i| Row {
            id: 10_000 + i,
            title: format!("Ticket #{i}: export \"large\" reports, then time out"),
            status: ["open", "closed"][(i % 2) as usize],
            assignee: (i % 3 != 0).then(|| "chloé".to_owned()),
            estimate_hours: 0.25 * (i % 40) as f64,
            note: "line one\r\nline two".to_owned(),
        })
        .collect();
    Box::leak(rows.into_boxed_slice())
}

/// Blocks allocated per request in steady state, streaming `rows` in `format`.
fn blocks_per_request<F: Format>(format: F, rows: &'static [Row]) -> u64 {
    let pool = Arc::new(FreelistPool::default());
    let streamer = Streamer::with_parts(ChunkConfig::default(), pool, SerdeJson)
        .unwrap()
        .with_format(format);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let request = || async {
        let mut chunks = streamer.json(source::from_iter(rows.iter()));
        while let Some(chunk) = chunks.next().await {
            assert!(!chunk.unwrap().is_empty());
        }
    };
    runtime.block_on(async {
        for _ in 0..10 {
            request().await;
        }
    });
    let requests = 200;
    let before = dhat::HeapStats::get();
    runtime.block_on(async {
        for _ in 0..requests {
            request().await;
        }
    });
    let after = dhat::HeapStats::get();
    (after.total_blocks - before.total_blocks) / requests
}

#[test]
fn csv_records_allocate_nothing_per_row() {
    let _profiler = dhat::Profiler::builder().testing().build();
    for n in [100, 2000] {
        let rows = rows(n);
        let json = blocks_per_request(JsonArray, rows);
        let csv = blocks_per_request(Csv::new(), rows);
        let headless = blocks_per_request(Csv::new().with_header(false), rows);
        println!(
            "{n} rows: JSON {json}, CSV {csv}, CSV without header {headless} blocks per request"
        );
        // The header row's names are the one block CSV adds.
        dhat::assert!(csv <= json + 1, "{n} rows: CSV {csv} blocks, JSON {json}");
        dhat::assert!(
            headless <= json,
            "{n} rows: CSV {headless} blocks, JSON {json}"
        );
    }
}
