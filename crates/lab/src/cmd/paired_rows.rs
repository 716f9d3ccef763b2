//! What `parallel` and `database` share: timed blocks of async requests, the peak
//! buffers one request holds (counted by `chunkstream_fixtures::CountingPool`), and
//! rows of paired ratios with their verdicts by the interval rule.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use chunkstream::{BoxError, ChunkStream};
use chunkstream_benches::scenario;
use chunkstream_fixtures::CountingPool;
use futures_util::{StreamExt, TryStreamExt};
use tokio::runtime::Runtime;

use crate::env_info::Environment;
use crate::noise::Noise;
use crate::paired::{self, Block, Schedule, Series};
use crate::stats::{Side, side};
use crate::table::{Table, fmt_num};

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

/// The columns of the CSV.
pub(crate) const COLUMNS: &[&str] = &[
    "section",
    "contestant",
    "reference",
    "body_bytes",
    "pairs",
    "mb_per_s",
    "reference_mb_per_s",
    "ratio",
    "ratio_lo",
    "ratio_hi",
    "target",
    "verdict",
    "reference_variation",
    "peak_buffers",
    "peak_buffer_bytes",
    "buffer_bound",
    "note",
];

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

    /// As a CSV row.
    pub(crate) fn cells(&self) -> Vec<String> {
        let speed = self.series.speed();
        let c = self.series.contestant_time().median;
        let r = self.series.reference_time().median;
        vec![
            self.section.clone(),
            self.contestant.clone(),
            self.reference.clone(),
            self.bytes.to_string(),
            self.series.pairs().to_string(),
            fmt_num(self.mb_per_s(c), 1),
            fmt_num(self.mb_per_s(r), 1),
            fmt_num(speed.median, 3),
            fmt_num(speed.lo, 3),
            fmt_num(speed.hi, 3),
            self.target.map_or("-".into(), |t| fmt_num(t, 2)),
            self.verdict().to_owned(),
            fmt_num(self.series.reference_variation(), 4),
            self.peak_buffers.map_or("-".into(), |p| p.to_string()),
            self.peak_buffers
                .map_or("-".into(), |p| (p * self.buffer_bytes).to_string()),
            self.bound.map_or("-".into(), |b| b.to_string()),
            self.note.clone(),
        ]
    }
}

/// The rows as a table.
pub(crate) fn table(rows: &[Row]) -> Table {
    let mut t = Table::new(COLUMNS);
    for row in rows {
        t.push(row.cells());
    }
    t
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

/// The rows as a markdown table (ratio with its interval, MB/s, verdict, memory).
pub(crate) fn markdown(rows: &[Row]) -> String {
    let mut s = String::from(
        "| section | contestant | reference | MB/s | ref MB/s | ratio [95% interval] | target | verdict | peak buffers (bytes) | bound | note |\n\
         |---|---|---|---:|---:|---|---:|---|---:|---:|---|\n",
    );
    for row in rows {
        let c = row.cells();
        let speed = row.series.speed();
        let peak = match row.peak_buffers {
            Some(p) => format!("{p} ({:.1} MB)", (p * row.buffer_bytes) as f64 / 1e6),
            None => "-".into(),
        };
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            c[0],
            c[1],
            c[2],
            c[5],
            c[6],
            speed.show(3),
            c[10],
            c[11],
            peak,
            c[15],
            c[16]
        ));
    }
    s
}

/// Writes `<name>.csv`, `<name>.env` and `<name>.md` (`body` after the header) in `out`.
pub(crate) fn write(
    out: &Path,
    name: &str,
    title: &str,
    env: &Environment,
    rows: &[Row],
    body: &str,
) -> Result<(), BoxError> {
    std::fs::create_dir_all(out)?;
    let t = table(rows);
    t.write(&out.join(format!("{name}.csv")))?;
    env.write(&out.join(format!("{name}.env")))?;
    let noise = noise(name, rows).table();
    let md = format!(
        "# {title}\n\n_Generated by `{}` on {} ({} build, {} cores: {}; commit {}). \
         Do not edit: rerun the command._\n\n{}\n\n{body}\n",
        env.get("command"),
        env.get("date"),
        env.get("profile"),
        env.get("cores"),
        env.get("cpu"),
        env.get("commit"),
        crate::noise::summary(&noise),
    );
    std::fs::write(out.join(format!("{name}.md")), md)?;
    Ok(())
}
