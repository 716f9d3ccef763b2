//! Time to the first byte from a slow source with `flush_interval` set, on the per-item
//! and the batch path: the delay between the first item leaving the source and its
//! chunk reaching the reader.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chunkstream::ChunkConfig;
use chunkstream_benches::contestants::{EncoderKind, PoolKind};
use chunkstream_benches::scenario::{self, Path};
use futures_util::StreamExt;
use tokio::runtime::Runtime;

use crate::harness::stats::Estimate;
use crate::record::{self, Num};

/// Streams 3 items, one per `period`, with `interval` as the flush interval, `requests`
/// times, on the per-item path and the batch path (batches of the default 1000 items,
/// so only the deadline can send the first item early), with the freelist pool and
/// serde_json named (not the features' defaults): the delays from the first item's
/// production to the first chunk.
pub(crate) fn measure(
    rt: &Runtime,
    interval: Duration,
    period: Duration,
    requests: usize,
) -> Vec<record::FirstByte> {
    let config = ChunkConfig::default().with_flush_interval(interval);
    let mut table = Vec::new();
    for path in [Path::Item, Path::Batch] {
        let produced: Arc<Mutex<Option<Instant>>> = Arc::default();
        let mark = Arc::clone(&produced);
        let source = move || {
            let mark = Arc::clone(&mark);
            futures_util::stream::iter(0..3u32).then(move |i| {
                let mark = Arc::clone(&mark);
                async move {
                    tokio::time::sleep(period).await;
                    mark.lock()
                        .map(|mut m| *m.get_or_insert_with(Instant::now))
                        .ok();
                    Ok::<_, std::convert::Infallible>(i)
                }
            })
        };
        let built = scenario::chunkstream(
            PoolKind::Freelist,
            EncoderKind::SerdeJson,
            &config,
            chunkstream::format::Json::Array,
            path,
            source,
        );
        let mut delays = Vec::new();
        for _ in 0..requests {
            if let Ok(mut p) = produced.lock() {
                *p = None;
            }
            let mut chunks = (built.chunks)();
            let first = rt.block_on(async {
                let first = chunks.next().await;
                let at = Instant::now();
                while chunks.next().await.is_some() {}
                first.and_then(Result::ok).map(|_| at)
            });
            let produced = produced.lock().ok().and_then(|p| *p);
            if let (Some(first), Some(produced)) = (first, produced) {
                delays.push(first.saturating_duration_since(produced).as_secs_f64() * 1e3);
            }
        }
        let max = delays.iter().copied().fold(f64::NAN, f64::max);
        let delay = Estimate::of(&delays);
        let (delay_ms_median, delay_ms_lo, delay_ms_hi) = record::columns(&delay);
        table.push(record::FirstByte {
            path,
            flush_interval_ms: Num(interval.as_secs_f64() * 1e3),
            item_period_ms: Num(period.as_secs_f64() * 1e3),
            delay_ms_median,
            delay_ms_lo,
            delay_ms_hi,
            delay_ms_max: Num(max),
            requests: delays.len(),
        });
    }
    table
}
