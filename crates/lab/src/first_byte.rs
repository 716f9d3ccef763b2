//! Time to the first byte from a slow source with `flush_interval` set: the delay
//! between the first item leaving the source and its chunk reaching the reader.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chunkstream::{ChunkConfig, Streamer};
use futures_util::StreamExt;
use tokio::runtime::Runtime;

use crate::stats::median;
use crate::table::{Table, fmt_num};

/// The columns of `first_byte.csv`.
pub(crate) const COLUMNS: &[&str] = &[
    "flush_interval_ms",
    "item_period_ms",
    "delay_ms_median",
    "delay_ms_max",
    "requests",
];

/// Streams 3 items, one per `period`, with `interval` as the flush interval, `requests`
/// times; the delay is from the first item's production to the first chunk.
pub(crate) fn measure(
    rt: &Runtime,
    interval: Duration,
    period: Duration,
    requests: usize,
) -> Table {
    let config = ChunkConfig::default().with_flush_interval(interval);
    let mut delays = Vec::new();
    if let Ok(streamer) = Streamer::new(config) {
        for _ in 0..requests {
            let produced: Arc<Mutex<Option<Instant>>> = Arc::default();
            let mark = Arc::clone(&produced);
            let source = futures_util::stream::iter(0..3u32).then(move |i| {
                let mark = Arc::clone(&mark);
                async move {
                    tokio::time::sleep(period).await;
                    mark.lock()
                        .map(|mut m| *m.get_or_insert_with(Instant::now))
                        .ok();
                    Ok::<_, std::convert::Infallible>(i)
                }
            });
            let mut chunks = streamer.stream(source, chunkstream::transform::passthrough());
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
    }
    let max = delays.iter().copied().fold(f64::NAN, f64::max);
    let mut table = Table::new(COLUMNS);
    table.push(vec![
        fmt_num(interval.as_secs_f64() * 1e3, 1),
        fmt_num(period.as_secs_f64() * 1e3, 1),
        fmt_num(median(&delays), 2),
        fmt_num(max, 2),
        delays.len().to_string(),
    ]);
    table
}
