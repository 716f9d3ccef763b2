//! What `parallel` and `database` share: timed blocks of async requests, the peak
//! buffers one request holds (counted by `chunkstream_fixtures::CountingPool`), and
//! rows of paired ratios with their verdicts by the interval rule.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use chunkstream::{BoxError, ChunkStream};
use chunkstream_benches::scenario;
use chunkstream_fixtures::CountingPool;
use futures_util::{StreamExt, TryStreamExt};
use tokio::runtime::Runtime;

use crate::harness::noise::Noise;
use crate::harness::paired::{self, Block, Schedule, Series};
use crate::harness::stats::{Side, side};
use crate::record::{self, Num};

/// Seconds per run of `reps` runs of `unit`.
fn per_unit(reps: u64, mut unit: impl FnMut() -> Result<(), BoxError>) -> Result<f64, BoxError> {
    let start = Instant::now();
    for _ in 0..reps {
        unit()?;
    }
    Ok(start.elapsed().as_secs_f64() / reps.max(1) as f64)
}

/// A block of `reps` requests, each made and awaited by `unit` on `rt` (which returns
/// the body bytes): seconds per request.
pub(crate) fn timed<'a, F, Fut>(rt: &'a Runtime, mut unit: F) -> Box<Block<'a>>
where
    F: FnMut() -> Fut + 'a,
    Fut: Future<Output = Result<u64, BoxError>>,
{
    Box::new(move |reps| {
        // Inside the runtime's context: a source may spawn its producer when made.
        let _context = rt.enter();
        per_unit(reps, || rt.block_on(unit()).map(drop))
    })
}

/// A block of `reps` times the serde_json limit: one `to_writer` of the whole of `items`
/// into a buffer allocated once. Seconds per write.
pub(crate) fn limit_block<T: serde::Serialize>(items: &'static [T]) -> Box<Block<'static>> {
    let mut buf = Vec::new();
    Box::new(move |reps| {
        per_unit(reps, || {
            buf.clear();
            Ok(serde_json::to_writer(&mut buf, items)?)
        })
    })
}

/// Drains a chunkstream body; its byte count.
pub(crate) async fn drain(stream: ChunkStream) -> Result<u64, BoxError> {
    Ok(scenario::drain(stream.map_err(BoxError::from).boxed())
        .await?
        .bytes)
}

/// The peak buffers one request holds at once (after a warm-up request).
pub(crate) fn peak_buffers<P, F, Fut>(
    rt: &Runtime,
    pool: &Arc<CountingPool<P>>,
    mut unit: F,
) -> Result<usize, BoxError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<u64, BoxError>>,
{
    let _context = rt.enter();
    rt.block_on(unit())?;
    pool.reset_peak();
    let base = pool.peak();
    rt.block_on(unit())?;
    Ok(pool.peak().saturating_sub(base))
}

/// One measured row: a contestant (in `section` of the report) alternated with its
/// `reference`, `bytes` of body per unit (a request, or a round of concurrent
/// requests), its speed ratio's "at least" `target` if any; the peak buffers per
/// stream, the bytes of one, and the documented bound, where measured; `note`: why it
/// was not run, or a check's outcome.
#[derive(Clone, Debug, Default)]
pub(crate) struct Row {
    pub(crate) section: String,
    pub(crate) contestant: String,
    pub(crate) reference: String,
    pub(crate) bytes: u64,
    /// The alternation (empty when not run).
    pub(crate) series: Series,
    pub(crate) target: Option<f64>,
    pub(crate) peak_buffers: Option<usize>,
    pub(crate) buffer_bytes: usize,
    pub(crate) bound: Option<usize>,
    pub(crate) note: String,
}

impl Row {
    /// Alternates `contestant` with `reference` and fills the series.
    pub(crate) fn measure(
        mut self,
        reference: &mut Block<'_>,
        contestant: &mut Block<'_>,
        schedule: &Schedule,
    ) -> Self {
        eprintln!(
            "  {}: {} vs {}",
            self.section, self.contestant, self.reference
        );
        match paired::alternate(reference, contestant, schedule) {
            Ok(series) => self.series = series,
            Err(e) => self.note = format!("failed: {e}"),
        }
        self
    }

    /// The speed ratio's verdict against the target.
    pub(crate) fn verdict(&self) -> &'static str {
        let Some(target) = self.target else {
            return "-";
        };
        if self.series.pairs() == 0 {
            return "not run";
        }
        match side(&self.series.speed(), target, true) {
            Side::Right => "met",
            Side::Wrong => "missed",
            Side::Inconclusive => "inconclusive",
        }
    }

    fn mb_per_s(&self, seconds: f64) -> f64 {
        self.bytes as f64 / seconds / 1e6
    }

    /// As a row of the CSV.
    pub(crate) fn record(&self) -> record::Paired {
        let (ratio, ratio_lo, ratio_hi) = record::columns(&self.series.speed());
        let count = |n: Option<usize>| Num(n.map_or(f64::NAN, |n| n as f64));
        record::Paired {
            section: self.section.clone(),
            contestant: self.contestant.clone(),
            reference: self.reference.clone(),
            body_bytes: self.bytes,
            pairs: self.series.pairs(),
            mb_per_s: Num(self.mb_per_s(self.series.contestant_time().median)),
            reference_mb_per_s: Num(self.mb_per_s(self.series.reference_time().median)),
            ratio,
            ratio_lo,
            ratio_hi,
            target: Num(self.target.unwrap_or(f64::NAN)),
            verdict: self.verdict().to_owned(),
            reference_variation: Num(self.series.reference_variation()),
            peak_buffers: count(self.peak_buffers),
            peak_buffer_bytes: count(self.peak_buffers.map(|p| p * self.buffer_bytes)),
            buffer_bound: count(self.bound),
            note: self.note.clone(),
        }
    }
}

/// The noise of the rows' references.
pub(crate) fn noise(name: &str, rows: &[Row]) -> Noise {
    let mut noise = Noise::default();
    for row in rows.iter().filter(|r| r.series.pairs() > 0) {
        let measurement = format!("{name}: {}", row.contestant);
        noise.add(&measurement, row.series.reference_variation());
    }
    noise
}
