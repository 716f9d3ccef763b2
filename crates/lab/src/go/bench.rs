//! The Go package chunkstream succeeds, measured in the same run ([`go_ref`] runs it):
//! chunkstream's bulk stream paired with the Go streamer's (the headline ratio), the Go
//! streamer against Go's own limit (`json.Marshal` of the slice), and Go's bytes and
//! allocations per 100-ticket request. Without `go` every figure says why it is missing.
//!
//! [`go_ref`]: crate::go::reference

use std::time::Duration;

use chunkstream::BoxError;
use chunkstream_benches::workload::Ticket;

use crate::go::reference::{self as go_ref, GoBlocks, GoUnavailable};
use crate::harness::paired::{self, Block, Schedule, Series};
use crate::harness::stats::{Estimate, ratio};
use crate::record::{self, Go, GoFigure};

/// Starts the Go block server on `tickets`, written as a JSON array to the returned
/// file (kept while Go runs: a restarted process loads it again).
fn start(tickets: &[Ticket]) -> Result<(GoBlocks, tempfile::NamedTempFile), GoUnavailable> {
    let file = go_ref::write_tickets(tickets)?;
    Ok((GoBlocks::start(file.path())?, file))
}

/// A timed block of the Go server: `repeats` passes, its bytes and seconds.
type GoBlock = fn(&mut GoBlocks, usize) -> Result<(u64, f64), GoUnavailable>;

fn push(table: &mut Vec<Go>, figure: GoFigure, e: &Estimate, note: &str) {
    let (value, lo, hi) = record::columns(e);
    table.push(Go {
        figure,
        value,
        lo,
        hi,
        pairs: e.n,
        note: note.to_owned(),
    });
}

/// Go's bulk stream as a block: seconds to produce `bytes` at Go's rate (Go's bytes per
/// pass may differ slightly: `encoding/json` escapes `<`, `>` and `&`).
fn bulk(go: &mut GoBlocks, bytes: u64) -> impl FnMut(u64) -> Result<f64, BoxError> + '_ {
    move |reps| {
        let (produced, seconds) = go.bulk_block(reps as usize).map_err(|e| e.to_string())?;
        Ok(seconds * bytes as f64 / produced.max(1) as f64)
    }
}

/// The Go package in one run of the lab: its block server (or why it is missing) and
/// the bulk alternations measured so far.
#[derive(Debug)]
pub(crate) struct GoRun {
    go: Result<GoBlocks, String>,
    /// The tickets file Go loads.
    _tickets: Option<tempfile::NamedTempFile>,
    /// Slices with Go on one core (`GOMAXPROCS=1`).
    bulk: Vec<Series>,
    /// Slices with Go at its default `GOMAXPROCS`.
    bulk_all_cores: Vec<Series>,
    /// Go's own streaming time, unmeasured, on each fresh process before it is timed.
    warm_up: Duration,
    notes: Vec<String>,
}

impl GoRun {
    /// Starts Go on `tickets` (or records why it cannot run); each fresh Go process
    /// streams them for `warm_up` before it is timed.
    pub(crate) fn start(tickets: &[Ticket], warm_up: Duration) -> GoRun {
        let (go, file) = match start(tickets) {
            Ok((go, file)) => (Ok(go), Some(file)),
            Err(e) => (Err(e.to_string()), None),
        };
        GoRun {
            go,
            _tickets: file,
            bulk: Vec::new(),
            bulk_all_cores: Vec::new(),
            warm_up,
            notes: Vec::new(),
        }
    }

    /// Why Go is not measured, if it is not.
    pub(crate) fn missing(&self) -> Option<&str> {
        self.go.as_ref().err().map(String::as_str)
    }

    /// The block server, when Go runs.
    pub(crate) fn blocks(&mut self) -> Option<&mut GoBlocks> {
        self.go.as_mut().ok()
    }

    /// One slice of the bulk comparison: chunkstream's bulk stream (`rust`: seconds per
    /// request of `bytes` bytes) alternating with Go's, on a fresh Go process (warmed up
    /// first), on one core and at Go's default `GOMAXPROCS` in turn. The lab measures
    /// many slices spread over its run, and each ratio's interval resamples the slices:
    /// it covers a change of load during the run and the spread between Go processes,
    /// not only the noise within one slice.
    ///
    /// One core each is the headline: chunkstream's bulk stream runs on one thread, and
    /// the Go streamer on one core is both faster (its goroutines hand batches and
    /// chunks over without crossing cores) and far steadier from process to process than
    /// on two, so it is the stricter and the reproducible comparison.
    pub(crate) fn bulk_slice(&mut self, rust: &mut Block<'_>, bytes: u64, schedule: &Schedule) {
        let Ok(go) = self.go.as_mut() else {
            return;
        };
        let one_core = self.bulk.len() <= self.bulk_all_cores.len();
        let fresh = go
            .restart(one_core.then_some(1))
            .and_then(|()| go.warm_up(self.warm_up));
        if let Err(e) = fresh {
            self.notes.push(format!("bulk: restarting Go failed: {e}"));
            return;
        }
        let mut theirs = bulk(go, bytes);
        match paired::alternate(&mut theirs, rust, schedule) {
            Ok(series) if one_core => self.bulk.push(series),
            Ok(series) => self.bulk_all_cores.push(series),
            Err(e) => self.notes.push(format!("bulk failed: {e}")),
        }
    }

    /// Go against its own limit and Go's request figures, then the table of every Go
    /// figure (`bytes`: chunkstream's bytes per request, for MB/s). The block server
    /// stays up (for the pool figures).
    pub(crate) fn finish(&mut self, bytes: u64, schedule: &Schedule) -> Vec<Go> {
        let mut table = Vec::new();
        let go = match self.go.as_mut() {
            Ok(go) => go,
            Err(reason) => {
                table.push(Go {
                    note: reason.clone(),
                    ..Go::default()
                });
                return table;
            }
        };
        let mut notes = vec![format!("ok ({})", go.go_version())];
        notes.extend(self.notes.iter().cloned());
        // MB/s of one side of each slice (`side`: its seconds per request).
        let mb_s = |slices: &[Series], side: fn(&Series) -> &[f64]| {
            paired::over_slices(slices, |s| {
                side(s)
                    .iter()
                    .map(|&t| ratio(bytes as f64, t) / 1e6)
                    .collect()
            })
        };
        let ratios = |slices: &[Series]| paired::over_slices(slices, Series::speed_ratios);
        let warm_ms = self.warm_up.as_millis();
        let note = |slices: &[Series], go: &str| {
            format!(
                "chunkstream MB/s over Go MB/s ({go}); per pair; {} slices spread over the \
                 run, each on a fresh Go process warmed up for {warm_ms} ms; interval \
                 resamples slices, then pairs",
                slices.len()
            )
        };
        let mut figures = Vec::new();
        if !self.bulk.is_empty() {
            let rust: Vec<Series> = self
                .bulk
                .iter()
                .chain(&self.bulk_all_cores)
                .cloned()
                .collect();
            figures.extend([
                (
                    GoFigure::BulkRatio,
                    ratios(&self.bulk),
                    note(&self.bulk, "GOMAXPROCS=1: one core each"),
                ),
                (
                    GoFigure::BulkChunkstream,
                    mb_s(&rust, |s| &s.contestant),
                    String::new(),
                ),
                (
                    GoFigure::BulkGo,
                    mb_s(&self.bulk, |s| &s.reference),
                    "GOMAXPROCS=1".into(),
                ),
            ]);
        }
        if !self.bulk_all_cores.is_empty() {
            let all = &self.bulk_all_cores;
            figures.extend([
                (
                    GoFigure::BulkRatioAllCores,
                    ratios(all),
                    note(all, "Go's default GOMAXPROCS: every core"),
                ),
                (
                    GoFigure::BulkGoAllCores,
                    mb_s(all, |s| &s.reference),
                    "default GOMAXPROCS".into(),
                ),
            ]);
        }
        for (figure, e, note) in figures {
            push(&mut table, figure, &e, &note);
        }
        // Go against its own limit, the pool and the request figures at Go's default.
        if let Err(e) = go.restart(None).and_then(|()| go.warm_up(self.warm_up)) {
            notes.push(format!(
                "restarting Go at its default GOMAXPROCS failed: {e}"
            ));
        }
        let own: Result<Series, BoxError> = {
            // Go's limit and Go's stream, both in Go's own seconds per pass; the two
            // closures share the one Go process.
            let go = std::cell::RefCell::new(&mut *go);
            let per_pass = |block: GoBlock| {
                let go = &go;
                move |reps: u64| {
                    let (_, s) =
                        block(&mut go.borrow_mut(), reps as usize).map_err(|e| e.to_string())?;
                    Ok::<_, BoxError>(s / reps.max(1) as f64)
                }
            };
            let mut limit = per_pass(GoBlocks::limit_block);
            let mut stream = per_pass(GoBlocks::bulk_block);
            paired::alternate(&mut limit, &mut stream, schedule)
        };
        match own {
            Ok(series) => push(
                &mut table,
                GoFigure::GoVsLimit,
                &series.speed(),
                "Go streamer MB/s over json.Marshal of the slice; per pair",
            ),
            Err(e) => notes.push(format!("Go vs its limit failed: {e}")),
        }
        match go_ref::request_figures() {
            Ok(f) => {
                for (figure, value) in [
                    (GoFigure::RequestPooledBytes, f.pooled_bytes),
                    (GoFigure::RequestPooledAllocs, f.pooled_allocs),
                    (GoFigure::RequestUnpooledBytes, f.unpooled_bytes),
                    (GoFigure::RequestUnpooledAllocs, f.unpooled_allocs),
                ] {
                    let note = "go test -bench Request -benchmem";
                    push(&mut table, figure, &Estimate::exact(value), note);
                }
            }
            Err(e) => notes.push(format!("request figures: {e}")),
        }
        table.insert(
            0,
            Go {
                note: notes.join("; "),
                ..Go::default()
            },
        );
        table
    }
}

/// A figure of `go.csv`, when measured.
pub(crate) fn figure(table: Option<&[Go]>, figure: GoFigure) -> Option<Estimate> {
    let row = table?.iter().find(|r| r.figure == figure)?;
    let e = record::interval(row.value, row.lo, row.hi, row.pairs);
    (!e.is_missing()).then_some(e)
}

/// Go's status line: `ok (go version)` or why it did not run.
pub(crate) fn status(table: Option<&[Go]>) -> String {
    table
        .and_then(|t| t.iter().find(|r| r.figure == GoFigure::Status))
        .map_or_else(
            || "not run (no go.csv: run `compare`)".to_owned(),
            |r| r.note.clone(),
        )
}

/// Whether Go ran.
pub(crate) fn ran(table: Option<&[Go]>) -> bool {
    status(table).starts_with("ok")
}
