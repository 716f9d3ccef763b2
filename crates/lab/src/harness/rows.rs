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
        let start = Instant::now();
        for _ in 0..reps {
            rt.block_on(unit())?;
        }
        Ok(start.elapsed().as_secs_f64() / reps.max(1) as f64)
    })
}

/// A block of `reps` times the serde_json limit: one `to_writer` of the whole of `items`
/// into a buffer allocated once. Seconds per write.
pub(crate) fn limit_block<T: serde::Serialize>(items: &'static [T]) -> Box<Block<'static>> {
    let mut buf = Vec::new();
    Box::new(move |reps| {
        let start = Instant::now();
        for _ in 0..reps {
            buf.clear();
            serde_json::to_writer(&mut buf, items)?;
        }
        Ok(start.elapsed().as_secs_f64() / reps.max(1) as f64)
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

/// One measured row: a contestant alternated with its reference.
#[derive(Clone, Debug, Default)]
pub(crate) struct Row {
    /// Section of the report.
    pub(crate) section: String,
    /// What was measured.
    pub(crate) contestant: String,
    /// What it was paired with.
    pub(crate) reference: String,
    /// Body bytes per unit (a request, or a round of concurrent requests).
    pub(crate) bytes: u64,
    /// The alternation (empty when not run).
    pub(crate) series: Series,
    /// "at least x" target on the speed ratio, if any.
    pub(crate) target: Option<f64>,
    /// Peak buffers per stream, if measured.
    pub(crate) peak_buffers: Option<usize>,
    /// Bytes of one pooled buffer.
    pub(crate) buffer_bytes: usize,
    /// The documented bound on the buffers, if any.
    pub(crate) bound: Option<usize>,
    /// Why it was not run, or a check's outcome.
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
            peak_buffers: Num(self.peak_buffers.map_or(f64::NAN, |p| p as f64)),
            peak_buffer_bytes: Num(self
                .peak_buffers
                .map_or(f64::NAN, |p| (p * self.buffer_bytes) as f64)),
            buffer_bound: Num(self.bound.map_or(f64::NAN, |b| b as f64)),
            note: self.note.clone(),
        }
    }
}

/// The noise of the rows' references.
pub(crate) fn noise(name: &str, rows: &[Row]) -> Noise {
    let mut n = Noise::default();
    for row in rows.iter().filter(|r| r.series.pairs() > 0) {
        n.add(
            &format!("{name}: {}", row.contestant),
            row.series.reference_variation(),
        );
    }
    n
}
