//! The Go package chunkstream succeeds, measured in the same run ([`go_ref`] runs it):
//! chunkstream's bulk stream paired with the Go streamer's (the headline ratio), the Go
//! streamer against Go's own limit (`json.Marshal` of the slice), and Go's bytes and
//! allocations per 100-ticket request. Without `go` every figure says why it is missing.
//!
//! [`go_ref`]: crate::go_ref

use std::path::PathBuf;

use chunkstream::BoxError;
use chunkstream_benches::workload::Ticket;

use crate::go_ref::{self, GoBlocks};
use crate::paired::{self, Block, Schedule, Series};
use crate::stats::{Estimate, ratio};
use crate::table::{Row, Table, fmt_num};

/// The columns of `go.csv`.
pub(crate) const COLUMNS: &[&str] = &["figure", "value", "lo", "hi", "pairs", "note"];

/// Whether Go ran, and its version (`note`), or why not.
pub(crate) const STATUS: &str = "status";
/// chunkstream's bulk MB/s over the Go streamer's, paired (the headline).
pub(crate) const BULK_RATIO: &str = "bulk_ratio";
/// chunkstream's bulk MB/s in the pairs.
pub(crate) const BULK_CHUNKSTREAM: &str = "bulk_chunkstream_mb_s";
/// The Go streamer's bulk MB/s in the pairs.
pub(crate) const BULK_GO: &str = "bulk_go_mb_s";
/// The Go streamer's MB/s over Go's own limit (`json.Marshal` of the slice), paired.
pub(crate) const GO_VS_LIMIT: &str = "go_vs_go_limit";
/// Go: bytes per 100-ticket request with its pool.
pub(crate) const REQUEST_POOLED_BYTES: &str = "request_pooled_bytes";
/// Go: allocations per 100-ticket request with its pool.
pub(crate) const REQUEST_POOLED_ALLOCS: &str = "request_pooled_allocs";
/// Go: bytes per 100-ticket request without its pool.
pub(crate) const REQUEST_UNPOOLED_BYTES: &str = "request_unpooled_bytes";
/// Go: allocations per 100-ticket request without its pool.
pub(crate) const REQUEST_UNPOOLED_ALLOCS: &str = "request_unpooled_allocs";

/// Starts the Go block server on `tickets`, written as a JSON array to a file in the
/// returned folder (kept while Go runs: a restarted process loads it again).
fn start(tickets: &[Ticket]) -> Result<(GoBlocks, tempfile::TempDir), String> {
    let dir = tempfile::tempdir().map_err(|e| format!("not run (temporary folder: {e})"))?;
    let path: PathBuf = dir.path().join("tickets.json");
    let json = serde_json::to_vec(tickets).map_err(|e| format!("not run ({e})"))?;
    std::fs::write(&path, json).map_err(|e| format!("not run ({e})"))?;
    let go = GoBlocks::start(&path).map_err(|e| e.to_string())?;
    Ok((go, dir))
}

fn push(table: &mut Table, figure: &str, e: &Estimate, decimals: usize, note: &str) {
    table.push(vec![
        figure.to_owned(),
        fmt_num(e.median, decimals),
        fmt_num(e.lo, decimals),
        fmt_num(e.hi, decimals),
        e.n.to_string(),
        note.to_owned(),
    ]);
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
pub(crate) struct GoRun {
    go: Result<GoBlocks, String>,
    /// The folder of the tickets file Go loads.
    _tickets: Option<tempfile::TempDir>,
    bulk: Vec<Series>,
    notes: Vec<String>,
}

impl std::fmt::Debug for GoRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoRun")
            .field("slices", &self.bulk.len())
            .finish_non_exhaustive()
    }
}

impl GoRun {
    /// Starts Go on `tickets` (or records why it cannot run).
    pub(crate) fn start(tickets: &[Ticket]) -> GoRun {
        let (go, dir) = match start(tickets) {
            Ok((go, dir)) => (Ok(go), Some(dir)),
            Err(reason) => (Err(reason), None),
        };
        GoRun {
            go,
            _tickets: dir,
            bulk: Vec::new(),
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
    /// request of `bytes` bytes) alternating with Go's. The lab measures several slices
    /// spread over its run, each (after the first) on a fresh Go process, and the
    /// headline's interval resamples the slices: it covers a change of load during the
    /// run and the spread between Go processes, not only the noise within one slice.
    pub(crate) fn bulk_slice(&mut self, rust: &mut Block<'_>, bytes: u64, schedule: &Schedule) {
        let Ok(go) = self.go.as_mut() else {
            return;
        };
        if !self.bulk.is_empty()
            && let Err(e) = go.restart()
        {
            self.notes.push(format!("bulk: restarting Go failed: {e}"));
            return;
        }
        let mut theirs = bulk(go, bytes);
        match paired::alternate(&mut theirs, rust, schedule) {
            Ok(series) => self.bulk.push(series),
            Err(e) => self.notes.push(format!("bulk failed: {e}")),
        }
    }

    /// Go against its own limit and Go's request figures, then the table of every Go
    /// figure (`bytes`: chunkstream's bytes per request, for MB/s). The block server
    /// stays up (for the pool figures).
    pub(crate) fn finish(&mut self, bytes: u64, schedule: &Schedule) -> Table {
        let mut table = Table::new(COLUMNS);
        let go = match self.go.as_mut() {
            Ok(go) => go,
            Err(reason) => {
                table.push(vec![
                    STATUS.into(),
                    String::new(),
                    String::new(),
                    String::new(),
                    "0".into(),
                    reason.clone(),
                ]);
                return table;
            }
        };
        let mut notes = vec![format!("ok ({})", go.go_version())];
        notes.extend(self.notes.iter().cloned());
        let mb_s = |slices: &[Vec<f64>]| {
            let per_sec: Vec<Vec<f64>> = slices
                .iter()
                .map(|times| {
                    times
                        .iter()
                        .map(|&s| ratio(bytes as f64, s) / 1e6)
                        .collect()
                })
                .collect();
            Estimate::of_groups(&per_sec)
        };
        if !self.bulk.is_empty() {
            let slices =
                |f: fn(&Series) -> Vec<f64>| -> Vec<Vec<f64>> { self.bulk.iter().map(f).collect() };
            push(
                &mut table,
                BULK_RATIO,
                &Estimate::of_groups(&slices(Series::speed_ratios)),
                3,
                &format!(
                    "chunkstream MB/s over Go MB/s; per pair; {} slices spread over the run, \
                     each on a fresh Go process; interval resamples slices, then pairs",
                    self.bulk.len()
                ),
            );
            push(
                &mut table,
                BULK_CHUNKSTREAM,
                &mb_s(&slices(|s| s.contestant.clone())),
                1,
                "",
            );
            push(
                &mut table,
                BULK_GO,
                &mb_s(&slices(|s| s.reference.clone())),
                1,
                "",
            );
        }
        let own: Result<Series, BoxError> = {
            // Go's limit and Go's stream, both in Go's own seconds per pass; the two
            // closures share the one Go process.
            let go = std::cell::RefCell::new(&mut *go);
            let mut limit = |reps: u64| {
                let (_, s) = go
                    .borrow_mut()
                    .limit_block(reps as usize)
                    .map_err(|e| e.to_string())?;
                Ok::<_, BoxError>(s / reps.max(1) as f64)
            };
            let mut stream = |reps: u64| {
                let (_, s) = go
                    .borrow_mut()
                    .bulk_block(reps as usize)
                    .map_err(|e| e.to_string())?;
                Ok::<_, BoxError>(s / reps.max(1) as f64)
            };
            paired::alternate(&mut limit, &mut stream, schedule)
        };
        match own {
            Ok(series) => push(
                &mut table,
                GO_VS_LIMIT,
                &series.speed(),
                3,
                "Go streamer MB/s over json.Marshal of the slice; per pair",
            ),
            Err(e) => notes.push(format!("Go vs its limit failed: {e}")),
        }
        match go_ref::request_figures() {
            Ok(f) => {
                let note = "go test -bench Request -benchmem";
                push(
                    &mut table,
                    REQUEST_POOLED_BYTES,
                    &Estimate::exact(f.pooled_bytes),
                    0,
                    note,
                );
                push(
                    &mut table,
                    REQUEST_POOLED_ALLOCS,
                    &Estimate::exact(f.pooled_allocs),
                    0,
                    note,
                );
                push(
                    &mut table,
                    REQUEST_UNPOOLED_BYTES,
                    &Estimate::exact(f.unpooled_bytes),
                    0,
                    note,
                );
                push(
                    &mut table,
                    REQUEST_UNPOOLED_ALLOCS,
                    &Estimate::exact(f.unpooled_allocs),
                    0,
                    note,
                );
            }
            Err(e) => notes.push(format!("request figures: {e}")),
        }
        table.rows.insert(
            0,
            vec![
                STATUS.into(),
                String::new(),
                String::new(),
                String::new(),
                "0".into(),
                notes.join("; "),
            ],
        );
        table
    }
}

/// A figure of `go.csv` by name.
pub(crate) fn figure(table: Option<&Table>, name: &str) -> Option<Estimate> {
    let row = table?.iter().find(|r| r.get("figure") == name)?;
    let e = estimate(&row);
    (!e.is_missing()).then_some(e)
}

fn estimate(row: &Row<'_>) -> Estimate {
    Estimate {
        median: row.num("value"),
        lo: row.num("lo"),
        hi: row.num("hi"),
        n: row.get("pairs").parse().unwrap_or(0),
    }
}

/// Go's status line: `ok (go version)` or why it did not run.
pub(crate) fn status(table: Option<&Table>) -> String {
    table
        .and_then(|t| t.iter().find(|r| r.get("figure") == STATUS))
        .map_or_else(
            || "not run (no go.csv: run `compare`)".to_owned(),
            |r| r.get("note").to_owned(),
        )
}

/// Whether Go ran.
pub(crate) fn ran(table: Option<&Table>) -> bool {
    status(table).starts_with("ok")
}
