//! `parallel`: parallel, order-preserving encoding and the run-ahead source, as paired
//! ratios.
//!
//! - Bulk tickets in memory, `stream_batch` with 1, 2 and 4 encode workers (as many
//!   permits), serde_json and sonic-rs, each paired with the single-core serde_json
//!   limit (one `serde_json::to_writer` of the whole slice);
//! - the channel and SQLite sources through `source::run_ahead` against the same source
//!   without it (and with run-ahead and 2 workers, for information);
//! - 64 concurrent requests with parallel encoding on (2 workers, the process-wide
//!   permits) against off;
//! - the peak buffers one stream holds, beside the documented bound;
//! - an SVG of throughput against workers.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chunkstream::encode::{SerdeJson, SonicRs};
use chunkstream::pool::FreelistPool;
use chunkstream::{
    BoxError, BufferPool, ChunkConfig, EncodePermits, Encoder, Streamer, source, transform,
};
use chunkstream_benches::peers;
use chunkstream_benches::workload::{self, Ticket, Workload};
use chunkstream_fixtures::CountingPool;
use plotters::prelude::*;
use tokio::runtime::Runtime;

use crate::env_info::Environment;
use crate::harness::paired::{self, Schedule};
use crate::harness::rows::{self as paired_rows, Row, drain, peak_buffers, timed};
use crate::harness::stats::median;
use crate::report;
use crate::sources::{self, Sqlite};

type Pool = CountingPool<FreelistPool>;

/// Capacity of the run-ahead queue, in items (`parallel --profile` uses it too).
pub(crate) const RUN_AHEAD: usize = 2000;

/// Concurrent requests in the load comparison (and its profile).
pub(crate) const CONCURRENT: usize = 64;

/// One round of the load comparison: [`CONCURRENT`] requests of `items` at once, each a
/// task on the current runtime; their bytes together.
pub(crate) async fn concurrent<P, E>(
    streamer: &Arc<Streamer<P, E>>,
    items: &'static [Ticket],
) -> Result<u64, BoxError>
where
    P: BufferPool + 'static,
    E: Encoder + 'static,
{
    let tasks: Vec<_> = (0..CONCURRENT)
        .map(|_| {
            let s = Arc::clone(streamer);
            tokio::spawn(async move {
                drain(s.stream_batch(peers::memory(items), transform::batch_passthrough())).await
            })
        })
        .collect();
    let mut bytes = 0;
    for task in tasks {
        bytes += task.await??;
    }
    Ok(bytes)
}

fn streamer<E: Encoder>(
    encoder: E,
    workers: usize,
) -> Result<(Streamer<Pool, E>, Arc<Pool>), BoxError> {
    let config = ChunkConfig::default();
    let pool = Arc::new(CountingPool::new(FreelistPool::new(config.pool)));
    let s = Streamer::with_parts(config, Arc::clone(&pool), encoder)?.with_encode_workers(workers);
    Ok((s, pool))
}

/// `row`: `source` batched through `run_ahead` on `streamers.1`, paired with the same
/// source without it on `streamers.0`.
fn run_ahead_row<S, T>(
    rt: &Runtime,
    row: Row,
    (plain, ahead): (&Streamer<Pool, SerdeJson>, &Streamer<Pool, SerdeJson>),
    source: impl Fn() -> S,
    schedule: &Schedule,
) -> Row
where
    S: futures_util::Stream<Item = Result<T, BoxError>> + Send + 'static,
    T: serde::Serialize + Send + 'static,
{
    let pass = transform::batch_passthrough;
    let mut reference = timed(rt, || drain(plain.stream_batch(source(), pass())));
    let mut cont = timed(rt, || {
        drain(ahead.stream_batch(source::run_ahead(source(), RUN_AHEAD), pass()))
    });
    row.measure(&mut reference, &mut cont, schedule)
}

/// Tickets of about `bytes` of JSON, leaked (`parallel --profile` and `database` take
/// the same).
pub(crate) fn tickets(bytes: usize) -> &'static [Ticket] {
    workload::leak(workload::tickets(Workload::Tickets.items_for_bytes(bytes)))
}

/// The two-worker tokio runtime `parallel`, its profile and `database` run on.
pub(crate) fn runtime() -> std::io::Result<Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.worker_threads(2).enable_all().build()
}

/// Blocks of `block_ms` and a budget of `budget_s` per row (5 ms and 0.6 s if `quick`).
pub(crate) fn schedule(quick: bool, block_ms: u64, budget_s: f64) -> Schedule {
    Schedule {
        block: Duration::from_millis(if quick { 5 } else { block_ms }),
        budget: Duration::from_secs_f64(if quick { 0.6 } else { budget_s }),
        min_pairs: if quick { 3 } else { 15 },
        max_pairs: 2000,
    }
}

/// The documented bound on the buffers of one stream (see `with_encode_workers`).
fn bound(workers: usize, items: &[Ticket]) -> usize {
    if workers <= 1 {
        return 2;
    }
    let config = ChunkConfig::default();
    let batch_json = workload::mean_json_size(items) * config.batch_size;
    (2 * workers + 1) * (batch_json.div_ceil(config.chunk_threshold) + 1) + 2
}

/// Runs the measurements and writes `parallel.md`, `.csv`, `.env` and `parallel.svg`.
pub(crate) fn run(quick: bool, env: &Environment, out: &Path) -> Result<(), BoxError> {
    let rt = runtime()?;
    let items = tickets(if quick { 1 << 20 } else { 8 << 20 });
    let schedule = schedule(quick, 40, 10.0);
    let buffer_bytes = ChunkConfig::default().pool.buffer_size;
    let mut rows = Vec::new();

    // The single-core limit.
    let limit_bytes = serde_json::to_vec(items)?.len();
    let mut limit = paired_rows::limit_block(items);
    let against_limit = Row {
        reference: "serde_json limit (one to_writer)".into(),
        bytes: limit_bytes as u64,
        buffer_bytes,
        ..Row::default()
    };

    eprintln!(
        "parallel: bulk tickets ({} items, {limit_bytes} bytes)",
        items.len()
    );
    for workers in [1, 2, 4] {
        let bulk = |encoder: &str, target| Row {
            section: "bulk, memory, stream_batch".into(),
            contestant: format!("{encoder}, {workers} worker(s)"),
            target: (workers == 2).then_some(target),
            bound: Some(bound(workers, items)),
            ..against_limit.clone()
        };
        let (serde, sonic) = (bulk("serde_json", 1.6), bulk("sonic-rs", 2.5));
        rows.push(bulk_row(
            &rt, serde, SerdeJson, workers, items, &mut limit, &schedule,
        )?);
        rows.push(bulk_row(
            &rt, sonic, SonicRs, workers, items, &mut limit, &schedule,
        )?);
    }

    // What two cores give this machine for the serializer alone: each thread encodes
    // half the slice at once, no streaming. The 2-worker rows are read against these.
    for encoder in ["serde_json", "sonic-rs"] {
        let row = Row {
            section: "two-core ceiling, memory, no streaming".into(),
            contestant: format!("{encoder}, half the slice on each of 2 threads"),
            ..against_limit.clone()
        };
        let mut cont: Box<paired::Block<'_>> = match encoder {
            "serde_json" => Box::new(two_threads(&rt, SerdeJson, items, limit_bytes)),
            _ => Box::new(two_threads(&rt, SonicRs, items, limit_bytes)),
        };
        rows.push(row.measure(&mut limit, &mut cont, &schedule));
    }

    // Run-ahead on the channel and SQLite sources.
    let db_items = tickets(if quick { 128 << 10 } else { 2 << 20 });
    let sqlite = rt.block_on(Sqlite::seed(db_items))?;
    let db_pool = sqlite.pool;
    let db_bytes = serde_json::to_vec(db_items)?.len() as u64;
    for (contestant, workers) in [("run_ahead", 1), ("run_ahead + 2 workers", 2)] {
        let target = (workers == 1).then_some(1.3);
        let (plain, _) = streamer(SerdeJson, 1)?;
        let (ahead, _) = streamer(SerdeJson, workers)?;
        let ahead = ahead.with_encode_permits(Arc::new(EncodePermits::new(workers)));
        let streamers = (&plain, &ahead);
        for (section, bytes) in [("channel", limit_bytes as u64), ("SQLite", db_bytes)] {
            let row = Row {
                section: format!("{section} source, stream_batch"),
                contestant: contestant.into(),
                reference: "same source, no run_ahead, 1 worker".into(),
                bytes,
                target,
                buffer_bytes,
                ..Row::default()
            };
            rows.push(match section {
                "channel" => {
                    run_ahead_row(&rt, row, streamers, || sources::channel(items), &schedule)
                }
                _ => run_ahead_row(&rt, row, streamers, || Sqlite::rows(db_pool), &schedule),
            });
        }
    }
    drop(sqlite);

    // Under load: 64 concurrent requests, parallel encoding on (2 workers, the
    // process-wide permits) and off.
    let load_items = tickets(if quick { 128 << 10 } else { 1 << 20 });
    let load_bytes = serde_json::to_vec(load_items)?.len() as u64 * CONCURRENT as u64;
    let (off, _) = streamer(SerdeJson, 1)?;
    let (on, _) = streamer(SerdeJson, 2)?;
    let (off, on) = (Arc::new(off), Arc::new(on));
    let row = Row {
        section: format!("{CONCURRENT} concurrent requests, stream_batch"),
        contestant: "parallel encoding on (2 workers, global permits)".into(),
        reference: "parallel encoding off".into(),
        bytes: load_bytes,
        target: Some(0.95),
        buffer_bytes,
        ..Row::default()
    };
    let load_schedule = Schedule {
        block: Duration::ZERO,
        ..schedule
    };
    let mut reference = timed(&rt, || concurrent(&off, load_items));
    let mut cont = timed(&rt, || concurrent(&on, load_items));
    rows.push(row.measure(&mut reference, &mut cont, &load_schedule));

    let plot = out.join("parallel.svg");
    std::fs::create_dir_all(out)?;
    plot_workers(&plot, &rows)?;
    let body = format!(
        "Paired blocks on a two-worker tokio runtime: each contestant alternates with its \
         reference (R C R ... C R); the ratio is the reference's time over the \
         contestant's (above 1: faster), median with a bootstrap 95% interval. A target is \
         **met** when the whole interval is at or above it, **missed** when the whole \
         interval is below, **inconclusive** otherwise.\n\n\
         Bulk rows stream {} tickets ({:.1} MB of JSON) from memory with `stream_batch`, \
         `with_encode_workers(n)` and `EncodePermits::new(n)`; the reference is one \
         `serde_json::to_writer` of the whole slice on one core. The two-core ceiling rows \
         encode half the slice on each of two threads at once (one of them from the \
         runtime's blocking pool, as the workers are), with no streaming at all: \
         what this machine's two cores give the serializer alone, the most 2 workers can \
         reach. The channel rows stream \
         the same tickets through a tokio channel fed by a task; the SQLite rows {} \
         decoded rows; `run_ahead` polls the source on its own task ({RUN_AHEAD} items \
         ahead). The load row runs {CONCURRENT} requests of {} tickets at once, on \
         against off: with more streams running than permits (one per core), each \
         stream encodes on its own task, so the row measures what the parallel path \
         costs a busy service. Peak buffers: the most buffers one stream held at once (a counting \
         pool), beside the bound `with_encode_workers` documents.\n\n{}\n\n\
         ![throughput against workers](parallel.svg)\n",
        items.len(),
        limit_bytes as f64 / 1e6,
        db_items.len(),
        load_items.len(),
        report::paired::markdown(&rows),
    );
    let title = "Parallel encoding and run-ahead sources";
    report::paired::write(out, "parallel", title, env, &rows, &body)
}

fn bulk_row<E: Encoder>(
    rt: &Runtime,
    mut row: Row,
    encoder: E,
    workers: usize,
    items: &'static [Ticket],
    limit: &mut dyn FnMut(u64) -> Result<f64, BoxError>,
    schedule: &Schedule,
) -> Result<Row, BoxError> {
    let (s, pool) = streamer(encoder, workers)?;
    let s = s.with_encode_permits(Arc::new(EncodePermits::new(workers)));
    let unit = || drain(s.stream_batch(peers::memory(items), transform::batch_passthrough()));
    row.peak_buffers = Some(peak_buffers(rt, &pool, unit)?);
    let mut cont = timed(rt, unit);
    Ok(row.measure(limit, &mut cont, schedule))
}

/// A block encoding `items` in two halves at once, one on the calling thread and one on
/// the runtime's blocking pool (whose threads live on between units, as the encode
/// workers' do), one buffer each: what the machine's two cores give the encoder alone.
fn two_threads<'a, E: Encoder>(
    rt: &'a Runtime,
    encoder: E,
    items: &'static [Ticket],
    bytes: usize,
) -> impl FnMut(u64) -> Result<f64, BoxError> + 'a {
    let (left, right) = items.split_at(items.len() / 2);
    let mut mine = Vec::with_capacity(bytes);
    let mut theirs = Some(Vec::with_capacity(bytes));
    move |reps: u64| {
        let start = std::time::Instant::now();
        for _ in 0..reps {
            let mut buf = theirs.take().unwrap_or_default();
            let other = encoder.clone();
            let handle = rt.spawn_blocking(move || {
                buf.clear();
                other.encode(right, &mut buf).map(|()| buf)
            });
            mine.clear();
            encoder.encode(left, &mut mine)?;
            theirs = Some(rt.block_on(handle)??);
        }
        Ok(start.elapsed().as_secs_f64() / reps.max(1) as f64)
    }
}

/// Throughput (MB/s, median with its interval) against workers, per encoder, and the
/// limit as a line.
fn plot_workers(path: &Path, rows: &[Row]) -> Result<(), BoxError> {
    let bulk: Vec<&Row> = rows
        .iter()
        .filter(|r| r.section.starts_with("bulk"))
        .collect();
    let mb = |r: &Row, t: f64| r.bytes as f64 / t / 1e6;
    let mut y_max = 1.0_f64;
    let mut series = Vec::new();
    for encoder in ["serde_json", "sonic-rs"] {
        let mut points = Vec::new();
        let rows = bulk.iter().filter(|r| r.contestant.starts_with(encoder));
        // The bulk rows run 1, 2 and 4 workers in turn.
        for (workers, r) in [1.0, 2.0, 4.0].into_iter().zip(rows) {
            let t = r.series.contestant_time();
            if t.is_missing() {
                continue;
            }
            let (y, lo, hi) = (mb(r, t.median), mb(r, t.hi), mb(r, t.lo));
            y_max = y_max.max(hi);
            points.push((workers, y, lo, hi));
        }
        series.push((encoder, points));
    }
    let limits = bulk.iter().map(|r| mb(r, r.series.reference_time().median));
    let limit = median(&limits.filter(|v| v.is_finite()).collect::<Vec<_>>());
    if limit.is_finite() {
        y_max = y_max.max(limit);
    }
    let root = SVGBackend::new(path, (900, 540)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Bulk tickets: throughput against encode workers",
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(0.5..4.5, 0.0..y_max * 1.15)?;
    chart
        .configure_mesh()
        .x_desc("encode workers")
        .y_desc("MB/s (median, 95% interval)")
        .draw()?;
    if limit.is_finite() {
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(0.5, limit), (4.5, limit)],
                BLACK.mix(0.6).stroke_width(1),
            )))?
            .label("serde_json limit (one core)")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK));
    }
    for (i, (name, points)) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|&(x, y, _, _)| (x, y)),
                color.stroke_width(2),
            ))?
            .label(*name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        chart.draw_series(
            points
                .iter()
                .map(|&(x, y, lo, hi)| ErrorBar::new_vertical(x, lo, y, hi, color.filled(), 8)),
        )?;
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()?;
    root.present()?;
    Ok(())
}
