//! The Go package measured in the same run ([`go_ref`] drives it): chunkstream's bulk
//! stream paired with the Go streamer's (the headline ratio), the Go streamer against
//! Go's own limit (`json.Marshal` of the slice), and Go's bytes and allocations per
//! 100-ticket request. Without `go` every figure says why it is missing.
//!
//! [`go_ref`]: crate::go::reference

use std::cell::RefCell;
use std::time::Duration;

use chunkstream::BoxError;
use chunkstream_benches::workload::Ticket;

use crate::go::best;
use crate::go::reference::{self as go_ref, GoBlocks, GoUnavailable};
use crate::harness::paired::{self, Block, Schedule, Series};
use crate::harness::placement;
use crate::harness::stats::{Estimate, ratio};
use crate::record::{self, Go, GoFigure};

/// A timed block of the Go server: `repeats` passes, its bytes and seconds.
type GoBlock = fn(&mut GoBlocks, usize) -> Result<(u64, f64), GoUnavailable>;

fn push(table: &mut Vec<Go>, figure: GoFigure, e: &Estimate, note: &str) {
    let (value, lo, hi) = record::columns(e);
    let (pairs, note) = (e.n, note.to_owned());
    table.push(Go {
        figure,
        value,
        lo,
        hi,
        pairs,
        note,
    });
}

/// A status row: only its note.
fn status_row(note: String) -> Go {
    Go {
        note,
        ..Go::default()
    }
}

/// The Go package in one run of the lab: its block server (or why it is missing) and
/// the bulk alternations measured so far.
#[derive(Debug)]
pub(crate) struct GoRun {
    go: Result<GoBlocks, GoUnavailable>,
    /// The tickets file Go loads (again on each restart).
    _tickets: Option<tempfile::NamedTempFile>,
    /// Slices with Go on one core (`GOMAXPROCS=1`), then at its default `GOMAXPROCS`.
    slices: [Vec<Series>; 2],
    /// Go's own streaming time, unmeasured, on each fresh process before it is timed.
    warm_up: Duration,
    notes: Vec<String>,
}

impl GoRun {
    /// Starts Go on `tickets` (or records why it cannot run).
    pub(crate) fn start(tickets: &[Ticket], warm_up: Duration) -> GoRun {
        let started = go_ref::write_tickets(tickets)
            .and_then(|file| Ok((GoBlocks::start(file.path())?, file)));
        let (go, _tickets) = match started {
            Ok((go, file)) => (Ok(go), Some(file)),
            Err(e) => (Err(e), None),
        };
        let (slices, notes) = Default::default();
        GoRun {
            go,
            _tickets,
            slices,
            warm_up,
            notes,
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
    /// request of `bytes` bytes) alternating with Go's on a fresh, warmed-up Go process,
    /// on one core and at Go's default `GOMAXPROCS` in turn. Each ratio's interval
    /// resamples the slices spread over the run: it covers a change of load and the
    /// spread between Go processes, not only the noise within one slice.
    ///
    /// One core each is the headline: chunkstream's bulk stream runs on one thread, and
    /// the Go streamer on one core is both faster (its goroutines hand batches and
    /// chunks over without crossing cores) and far steadier from process to process than
    /// on two, so it is the stricter and the reproducible comparison.
    pub(crate) fn bulk_slice(&mut self, rust: &mut Block<'_>, bytes: u64, schedule: &Schedule) {
        let Ok(go) = self.go.as_mut() else {
            return;
        };
        let one_core = self.slices[0].len() <= self.slices[1].len();
        let warm_up = self.warm_up;
        let mut slice = || -> Result<Series, String> {
            let fresh = go
                .restart(one_core.then_some(1))
                .and_then(|()| go.warm_up(warm_up));
            fresh.map_err(|e| format!("bulk: restarting Go failed: {e}"))?;
            // Seconds to produce `bytes` at Go's rate (Go's bytes per pass may differ
            // slightly: `encoding/json` escapes `<`, `>` and `&`).
            let mut theirs = |reps: u64| -> Result<f64, BoxError> {
                let (produced, seconds) = go.bulk_block(reps as usize)?;
                Ok(seconds * bytes as f64 / produced.max(1) as f64)
            };
            paired::alternate(&mut theirs, rust, schedule).map_err(|e| format!("bulk failed: {e}"))
        };
        // One core each: chunkstream's thread and the Go process share one CPU.
        let measured = if one_core {
            placement::on_one_cpu(slice)
        } else {
            slice()
        };
        match measured {
            Ok(series) => self.slices[usize::from(!one_core)].push(series),
            Err(note) => self.notes.push(note),
        }
    }

    /// Go against its own limit and Go's request figures, then the table of every Go
    /// figure (`bytes`: chunkstream's bytes per request, for MB/s). The block server
    /// stays up (for the pool figures).
    pub(crate) fn finish(&mut self, bytes: u64, schedule: &Schedule) -> Vec<Go> {
        let go = match self.go.as_mut() {
            Ok(go) => go,
            Err(reason) => return vec![status_row(reason.clone())],
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
        let [one, all] = &self.slices;
        let mut table = vec![status_row(String::new())];
        if !one.is_empty() {
            let rust: Vec<Series> = one.iter().chain(all).cloned().collect();
            let note = note(one, "GOMAXPROCS=1: one core each");
            push(&mut table, GoFigure::BulkRatio, &ratios(one), &note);
            let best = best::fast_band(one, best::go_as_reference, best::BULK_FAST_BAND);
            let note = format!(
                "as bulk_ratio, over the {} of {} slices where Go ran within {:.0}% of its \
                 fastest slice (Go there {} MB/s)",
                best.len(),
                one.len(),
                best::BULK_FAST_BAND * 100.0,
                mb_s(&best, |s| &s.reference).show(1)
            );
            push(
                &mut table,
                GoFigure::BulkRatioAtGoBest,
                &ratios(&best),
                &note,
            );
            let rust = mb_s(&rust, |s| &s.contestant);
            push(&mut table, GoFigure::BulkChunkstream, &rust, "");
            let go = mb_s(one, |s| &s.reference);
            push(&mut table, GoFigure::BulkGo, &go, "GOMAXPROCS=1");
        }
        if !all.is_empty() {
            let note = note(all, "Go's default GOMAXPROCS: every core");
            push(&mut table, GoFigure::BulkRatioAllCores, &ratios(all), &note);
            let go = mb_s(all, |s| &s.reference);
            push(
                &mut table,
                GoFigure::BulkGoAllCores,
                &go,
                "default GOMAXPROCS",
            );
        }
        // Go against its own limit, the pool and the request figures at Go's default.
        if let Err(e) = go.restart(None).and_then(|()| go.warm_up(self.warm_up)) {
            notes.push(format!(
                "restarting Go at its default GOMAXPROCS failed: {e}"
            ));
        }
        // Go's limit and Go's stream, both in Go's own seconds per pass, sharing one
        // process.
        let go = RefCell::new(go);
        let per_pass = |block: GoBlock| {
            let go = &go;
            move |reps: u64| -> Result<f64, BoxError> {
                let (_, s) = block(&mut go.borrow_mut(), reps as usize)?;
                Ok(s / reps.max(1) as f64)
            }
        };
        let mut limit = per_pass(GoBlocks::limit_block);
        let mut stream = per_pass(GoBlocks::bulk_block);
        match paired::alternate(&mut limit, &mut stream, schedule) {
            Ok(series) => push(
                &mut table,
                GoFigure::GoVsLimit,
                &series.speed(),
                "Go streamer MB/s over json.Marshal of the slice; per pair",
            ),
            Err(e) => notes.push(format!("Go vs its limit failed: {e}")),
        }
        let request = [
            GoFigure::RequestPooledBytes,
            GoFigure::RequestPooledAllocs,
            GoFigure::RequestUnpooledBytes,
            GoFigure::RequestUnpooledAllocs,
        ];
        match go_ref::request_figures() {
            Ok(values) => {
                for (figure, value) in request.into_iter().zip(values) {
                    let note = "go test -bench Request -benchmem";
                    push(&mut table, figure, &Estimate::exact(value), note);
                }
            }
            Err(e) => notes.push(format!("request figures: {e}")),
        }
        table[0].note = notes.join("; ");
        table
    }
}

/// A figure of `go.csv`, when measured.
pub(crate) fn figure(table: Option<&[Go]>, figure: GoFigure) -> Option<Estimate> {
    let row = table?.iter().find(|r| r.figure == figure)?;
    Some(row.value()).filter(|e| !e.is_missing())
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
