//! The Go package's claims and the design's targets, each beside what the lab measured
//! (read from the CSVs) with its 95% interval and a verdict. Go's published figures are
//! the only numbers written here.
//!
//! The verdict rule: a target is met, or a claim holds, only when the whole interval is
//! on the right side of the threshold; missed or refuted only when the whole interval is
//! on the wrong side; otherwise `inconclusive`, with the interval.

use chunkstream_benches::contestants::{EncoderKind, PoolKind};
use chunkstream_benches::peers::PeerKind;
use chunkstream_benches::scenario::{Framing, Path};
use chunkstream_benches::workload::Workload;

use crate::go::bench as go_bench;
use crate::harness::stats::{Estimate, Side, side};
use crate::measure::pool_ops::{Buffers, Shape};
use crate::record::{self, Category, Cell, Contestant, GoFigure, Limit, Source, fmt_num};

// The Go package's settings ("50 KB" buffers, 32 KB chunks, batches of 1000) and its
// published figures: pool ns per get + put, KB allocated per request without and with
// its pool, and the saving.
pub(crate) const GO_BUFFER_KIB: f64 = 50.0;
pub(crate) const GO_THRESHOLD_KIB: f64 = 32.0;
pub(crate) const GO_BATCH: f64 = 1000.0;
const GO_POOL_NS: f64 = 8.37;
const GO_BYTES_BEFORE_KB: f64 = 111.0;
const GO_BYTES_AFTER_KB: f64 = 54.0;
const GO_SAVING: f64 = 0.51;

/// A setting is "within tolerance" of the optimum when the best throughput reachable
/// with it is at most this fraction below the optimum's.
pub(crate) const TOLERANCE: f64 = 0.03;

// The design's targets: chunkstream's bulk throughput over the Go package's; the
// tickets service's ~1 MB response over the service before it set `TCP_NODELAY`; one
// HTTP download over the serde_json limit; the end-to-end path over the limit; CSV and
// the envelope over axum-streams' (the ratio of their ratios to the format's limit);
// pool get + put over the reference's (Go's `sync.Pool`, or a fresh `Vec`).
const GO_SPEEDUP_TARGET: f64 = 5.0;
const SERVICE_TARGET: f64 = 10.0;
const HTTP_TARGET: f64 = 0.9;
const LIMIT_TARGET: f64 = 0.95;
const FORMAT_PEER_TARGET: f64 = 2.0;
const POOL_TARGET: f64 = 0.5;

/// Which of the Go package's settings a [`Knob`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Setting {
    Buffer,
    Threshold,
    Batch,
}

/// A setting of the Go package's that the sweep varies.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Knob {
    pub(crate) setting: Setting,
    pub(crate) name: &'static str,
    pub(crate) unit: &'static str,
    /// The Go package's setting as it publishes it, and in `unit`.
    pub(crate) published: &'static str,
    pub(crate) go: f64,
    pub(crate) value: fn(&record::Tuning) -> usize,
}

pub(crate) const KNOBS: [Knob; 3] = [
    Knob {
        setting: Setting::Buffer,
        name: "buffer size",
        unit: "KiB",
        published: "50 KB",
        go: GO_BUFFER_KIB,
        value: |r| r.buffer_kib,
    },
    Knob {
        setting: Setting::Threshold,
        name: "chunk threshold",
        unit: "KiB",
        published: "32 KB",
        go: GO_THRESHOLD_KIB,
        value: |r| r.threshold_kib,
    },
    Knob {
        setting: Setting::Batch,
        name: "batch size",
        unit: "items",
        published: "1000",
        go: GO_BATCH,
        value: |r| r.batch,
    },
];

/// The tables the verdicts are computed from (`None`: not measured); `tuning` is
/// `tuning_confirm.csv` (or `tuning.csv`), `parallel` and `database` the paired rows.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Inputs<'a> {
    pub(crate) compare: Option<&'a [record::Compare]>,
    pub(crate) pool_ops: Option<&'a [record::PoolOps]>,
    pub(crate) steady: Option<&'a [record::Steady]>,
    pub(crate) tuning: Option<&'a [record::Tuning]>,
    pub(crate) soak: Option<&'a [record::Soak]>,
    pub(crate) first_byte: Option<&'a [record::FirstByte]>,
    pub(crate) go: Option<&'a [record::Go]>,
    pub(crate) mixed: Option<&'a [record::Mixed]>,
    pub(crate) parallel: Option<&'a [record::Paired]>,
    pub(crate) database: Option<&'a [record::Paired]>,
    /// The CPUs the one-download rows' encoding workers had to themselves, when the
    /// run says (`report::SPARE_CPUS_KEY`).
    pub(crate) spare_cpus: Option<usize>,
}

/// One line of a claims or targets table: what is claimed, the claim (Go's published
/// figure) or target, the Go package measured here (claims only), chunkstream measured
/// here with its interval, and the verdict.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Verdict {
    what: String,
    claim: String,
    go_here: String,
    measured: String,
    verdict: String,
}

impl Verdict {
    fn new(what: &str, claim: &str, go_here: &str, measured: &str, v: &str) -> Self {
        let [what, claim, go_here, measured, verdict] =
            [what, claim, go_here, measured, v].map(str::to_owned);
        Verdict {
            what,
            claim,
            go_here,
            measured,
            verdict,
        }
    }
}

/// `verdicts` as a markdown table under `header`, with the Go column when `go` (the
/// claims; `header` names it).
pub(crate) fn markdown(header: &[&str], go: bool, verdicts: Vec<Verdict>) -> String {
    let cells: Vec<Vec<String>> = (verdicts.into_iter())
        .map(|v| {
            let verdict = format!("**{}**", v.verdict);
            let cells = [Some(v.what), Some(v.claim), go.then_some(v.go_here)];
            cells
                .into_iter()
                .flatten()
                .chain([v.measured, verdict])
                .collect()
        })
        .collect();
    super::markdown_table(header, &cells)
}

pub(crate) const NOT_MEASURED: &str = "not measured";
pub(crate) const INCONCLUSIVE: &str = "inconclusive";
/// The verdict of a row measured where its target cannot be judged, shown for what
/// it says.
pub(crate) const NOT_JUDGED: &str = "not judged";
const RUN_COMPARE: &str = "run `compare`";

/// The words of a verdict on the right side and wholly on the wrong side.
type Words = (&'static str, &'static str);

/// The verdict over figures judged apart (their sides of a threshold): `words.0` when
/// every one is on the right side, `words.1` when one is wholly on the wrong side, else
/// inconclusive; not measured without any.
fn decide_every(sides: &[Side], words: Words) -> &'static str {
    if sides.is_empty() {
        NOT_MEASURED
    } else if sides.iter().all(|s| *s == Side::Right) {
        words.0
    } else if sides.contains(&Side::Wrong) {
        words.1
    } else {
        INCONCLUSIVE
    }
}

/// The verdict for `e` against `threshold`, as [`decide_every`] for one figure.
fn decide(e: &Estimate, threshold: f64, higher_is_right: bool, words: Words) -> &'static str {
    if e.is_missing() {
        return NOT_MEASURED;
    }
    decide_every(&[side(e, threshold, higher_is_right)], words)
}

/// A product of powers of independent estimates (`(estimate, exponent)`), with an
/// interval from their log half-widths added in quadrature (the delta method).
pub(crate) fn combine(parts: &[(Estimate, f64)]) -> Estimate {
    let mut median = 1.0;
    let mut var = 0.0;
    for (e, k) in parts {
        if e.is_missing() || e.lo <= 0.0 || e.hi <= 0.0 || e.median <= 0.0 {
            return Estimate::MISSING;
        }
        median *= e.median.powf(*k);
        let h = (e.hi.ln() - e.lo.ln()) / 2.0 * k;
        var += h * h;
    }
    let (h, n) = (var.sqrt(), parts.iter().map(|(e, _)| e.n).min());
    Estimate::new(
        median,
        median * (-h).exp(),
        median * h.exp(),
        n.unwrap_or(0),
    )
}

/// `ours` over `theirs`, each a ratio to the same limit.
fn over(ours: Estimate, theirs: Estimate) -> Estimate {
    combine(&[(ours, 1.0), (theirs, -1.0)])
}

/// The row with the highest median ratio among `rows`.
pub(crate) fn best<'a>(
    rows: impl Iterator<Item = &'a record::Tuning>,
) -> Option<&'a record::Tuning> {
    rows.filter(|r| !r.ratio.0.is_nan())
        .max_by(|a, b| a.ratio.0.total_cmp(&b.ratio.0))
}

/// The workloads of a tuning table, in order of appearance.
pub(crate) fn workloads(tuning: &[record::Tuning]) -> Vec<&str> {
    super::in_order(tuning.iter().map(|r| r.workload.as_str()))
}

/// The optimum configuration of `workload`.
pub(crate) fn optimum<'a>(
    tuning: &'a [record::Tuning],
    workload: &str,
) -> Option<&'a record::Tuning> {
    best(tuning.iter().filter(|r| r.workload == workload))
}

/// The best configuration of `workload` with `knob` at `value`.
pub(crate) fn best_with<'a>(
    tuning: &'a [record::Tuning],
    workload: &str,
    knob: &Knob,
    value: f64,
) -> Option<&'a record::Tuning> {
    let with = |r: &&record::Tuning| r.workload == workload && (knob.value)(r) as f64 == value;
    best(tuning.iter().filter(with))
}

/// The gap `1 - with / optimum` with its interval (zero for the same configuration).
pub(crate) fn gap(with: &record::Tuning, optimum: &record::Tuning) -> Estimate {
    if with.point() == optimum.point() {
        return Estimate::exact(0.0);
    }
    let q = over(with.ratio(), optimum.ratio());
    Estimate::new(1.0 - q.median, 1.0 - q.hi, 1.0 - q.lo, q.n)
}

/// For one knob, claimed at Go's setting, per workload: the optimum, the best
/// configuration with the claimed value and the gap; the setting holds when every gap's
/// interval is within the tolerance.
fn setting(tuning: Option<&[record::Tuning]>, knob: &Knob) -> Verdict {
    let (what, claim) = (knob.name, knob.published);
    let go_here = "the Go module runs at its own settings (not swept)";
    let Some(tuning) = tuning else {
        return Verdict::new(what, claim, go_here, "run `tune`", NOT_MEASURED);
    };
    let (mut measured, mut sides) = (Vec::new(), Vec::new());
    for w in workloads(tuning) {
        let found = optimum(tuning, w).zip(best_with(tuning, w, knob, knob.go));
        let Some((opt, with)) = found else { continue };
        let g = gap(with, opt);
        sides.push(side(&g, TOLERANCE, false));
        measured.push(format!(
            "{w}: optimum {} ({}x), with {claim} {}x, gap {}%",
            (knob.value)(opt),
            opt.ratio().show(3),
            with.ratio().show(3),
            g.scale(100.0).show(1),
        ));
    }
    let v = decide_every(&sides, ("holds", "refuted (different optimum)"));
    Verdict::new(what, claim, go_here, &measured.join("; "), v)
}

/// chunkstream's pooling strategy (not `none`, not Go's) with the lowest median cost
/// ratio in `case`.
fn best_pool(pool_ops: Option<&[record::PoolOps]>, case: Shape) -> Option<&record::PoolOps> {
    pool_ops?
        .iter()
        .filter(|r| r.case == case && matches!(r.pool, Buffers::Pool(kind) if kind.pools()))
        .filter(|r| !r.ratio.0.is_nan())
        .min_by(|a, b| a.ratio.0.total_cmp(&b.ratio.0))
}

/// chunkstream's rows of the steady-state table: the one without a pool, and the pooled
/// ones by bytes per request, fewest first.
fn steady_rows(
    steady: Option<&[record::Steady]>,
) -> (Option<&record::Steady>, Vec<&record::Steady>) {
    let ours = (steady.into_iter().flatten()).filter(|r| r.contestant == Contestant::Chunkstream);
    let (none, mut pooled): (Vec<_>, Vec<_>) = ours.partition(|r| r.pool == Some(PoolKind::None));
    pooled.sort_by(|a, b| a.bytes_per_request.0.total_cmp(&b.bytes_per_request.0));
    (none.first().copied(), pooled)
}

/// The Go status for a column: `not run (...)` when Go did not run.
fn go_missing(inputs: &Inputs<'_>) -> Option<String> {
    (!go_bench::ran(inputs.go)).then(|| go_bench::status(inputs.go))
}

/// Verdicts on the Go package's claims.
pub(crate) fn claims(inputs: &Inputs<'_>) -> Vec<Verdict> {
    let mut out: Vec<Verdict> = KNOBS.iter().map(|k| setting(inputs.tuning, k)).collect();
    out.push(pool_overhead(inputs));
    out.extend(request_bytes(inputs));
    out
}

/// Pool overhead: chunkstream's best strategy against Go's sync.Pool, same machine.
fn pool_overhead(inputs: &Inputs<'_>) -> Verdict {
    let what = "pool overhead (get + put, one thread)";
    let claim = &format!("{GO_POOL_NS} ns/op");
    let go_pool = (inputs.pool_ops.into_iter().flatten())
        .find(|r| r.case == Shape::OneThread && r.pool == Buffers::GoPool);
    let vs_go = best_pool(inputs.pool_ops, Shape::AgainstGo);
    let missing = go_missing(inputs);
    if let (Some(go), Some(mine), None) = (go_pool, vs_go, &missing) {
        let (go_ns, fresh_ns) = (go.ns().show(2), go.reference_ns().show(2));
        let (ns, ratio) = (mine.ns().show(2), mine.ratio().show(2));
        let words = (
            "holds (at most 3% above Go's, or cheaper)",
            "refuted (more than 3% above Go's)",
        );
        return Verdict::new(
            what,
            claim,
            &format!("{go_ns} ns (Go's fresh 50 KB slice: {fresh_ns} ns)"),
            &format!("{ns} ns ({}), {ratio}x Go's sync.Pool", mine.pool.name()),
            decide(&mine.ratio(), 1.0 + TOLERANCE, false, words),
        );
    }
    let mine = best_pool(inputs.pool_ops, Shape::OneThread);
    Verdict::new(
        what,
        claim,
        &missing.unwrap_or_else(|| NOT_MEASURED.into()),
        &mine.map_or(RUN_COMPARE.into(), |r| {
            format!("{} ns ({})", r.ns().show(2), r.pool.name())
        }),
        "not measured (needs Go on this machine: an absolute time from another \
         machine is not comparable)",
    )
}

/// Bytes per request without and with the pool, and the saving, against Go's figures
/// measured here (else its published ones).
fn request_bytes(inputs: &Inputs<'_>) -> [Verdict; 2] {
    let bytes_what = "bytes allocated per request (without -> with the pool)";
    let bytes_claim = &format!("{GO_BYTES_BEFORE_KB} KB -> {GO_BYTES_AFTER_KB} KB");
    let saving_what = "allocation saving from pooling";
    let go_bytes = (
        go_bench::figure(inputs.go, GoFigure::RequestUnpooledBytes),
        go_bench::figure(inputs.go, GoFigure::RequestPooledBytes),
    );
    let go_here = &match go_bytes {
        (Some(before), Some(after)) => format!(
            "{} KB -> {} KB (go test -benchmem, 100 tickets; averages over 2000 requests)",
            fmt_num(before.median / 1000.0, 1),
            fmt_num(after.median / 1000.0, 1)
        ),
        _ => go_missing(inputs).unwrap_or_else(|| NOT_MEASURED.into()),
    };
    let (none, pooled) = steady_rows(inputs.steady);
    let Some((none, best)) = none.zip(pooled.first()) else {
        return [
            Verdict::new(bytes_what, bytes_claim, go_here, RUN_COMPARE, NOT_MEASURED),
            Verdict::new(saving_what, "51%", go_here, RUN_COMPARE, NOT_MEASURED),
        ];
    };
    let (none, pooled) = (none.bytes(), best.bytes());
    // holds or refuted, against what.
    let judged = |e, threshold, higher, against| {
        let v = decide(e, threshold, higher, ("holds", "refuted"));
        format!("{v} (against {against})")
    };
    let (threshold, against) = match go_bytes.1 {
        Some(go) => (go.median, "Go's pooled figure measured here"),
        None => (GO_BYTES_AFTER_KB * 1000.0, "Go's published 54 KB"),
    };
    let bytes = Verdict::new(
        bytes_what,
        bytes_claim,
        go_here,
        &format!(
            "{} KB -> {} KB (100 tickets; none -> {})",
            none.scale(1e-3).show(1),
            pooled.scale(1e-3).show(2),
            best.pool.text()
        ),
        &judged(&pooled, threshold, false, against),
    );
    let saving = Estimate::new(
        1.0 - pooled.median / none.median,
        1.0 - pooled.hi / none.lo,
        1.0 - pooled.lo / none.hi,
        none.n.min(pooled.n),
    );
    let (threshold, against, go_saving) = match go_bytes {
        (Some(before), Some(after)) => {
            let s = 1.0 - after.median / before.median;
            let shown = format!("{}%", fmt_num(s * 100.0, 1));
            (s, "Go's saving measured here", shown)
        }
        _ => (GO_SAVING, "Go's published 51%", go_here.clone()),
    };
    let saving = Verdict::new(
        saving_what,
        "51%",
        &go_saving,
        &format!("{}%", saving.scale(100.0).show(1)),
        &judged(&saving, threshold, true, against),
    );
    [bytes, saving]
}

/// The direct path over tickets in memory.
const TICKETS_IN_MEMORY: (Workload, Source, Path) = (Workload::Tickets, Source::Memory, Path::Item);

/// The chunkstream row (freelist pool, JSON array) of a workload and source on `path`
/// with `encoder`, against `limit` when one is given.
fn ours(
    compare: Option<&[record::Compare]>,
    limit: Option<Limit>,
    (workload, source, path): (Workload, Source, Path),
    encoder: EncoderKind,
) -> Option<&record::Compare> {
    compare?.iter().find(|r| {
        limit.is_none_or(|l| r.limit == l)
            && r.is_chunkstream(workload.name(), source, path, PoolKind::Freelist, encoder)
    })
}

/// The HTTP targets: one download of tickets over loopback at least [`HTTP_TARGET`] of
/// the serde_json limit (rows paired with that limit in the run), on the direct path and
/// with two encoding workers (not judged where the run gave them no CPU of their own,
/// `spare_cpus` 0); and on every workload the direct path's HTTP row above
/// the best axum-streams row (the ratio of the two ratios, whole interval above 1). Each
/// for chunkstream with its default features' encoder, the serde_json row beside it.
fn http_targets(compare: Option<&[record::Compare]>, spare_cpus: Option<usize>) -> Vec<Verdict> {
    // A chunkstream HTTP row's ratio to one limit (each is measured against several).
    let ratio = |limit, workload, path, encoder| {
        let over_http = (workload, Source::Http, path);
        ours(compare, Some(limit), over_http, encoder).map(record::Compare::ratio)
    };
    let serde_json = Limit::Encoder(EncoderKind::SerdeJson);
    let over_serde = |path, encoder| ratio(serde_json, Workload::Tickets, path, encoder);
    let shown = |e: Option<Estimate>| e.map_or("-".to_owned(), |e| e.show(3));
    let one_download = |path, how| {
        target(
            &format!(
                "tickets over loopback HTTP, one download, default features (sonic-rs), \
                 {how}, over the serde_json limit"
            ),
            &format!(">= {HTTP_TARGET}x"),
            over_serde(path, EncoderKind::SonicRs).map(|ratio| {
                let serde = shown(over_serde(path, EncoderKind::SerdeJson));
                let words = format!("{}x (serde_json on the same path: {serde}x)", ratio.show(3));
                (words, ratio, HTTP_TARGET, true)
            }),
            RUN_COMPARE,
        )
    };
    let mut parallel = one_download(Path::Parallel, "two encoding workers (parallel path)");
    if spare_cpus == Some(0) && parallel.verdict != NOT_MEASURED {
        // The workers share the server's one CPU: the row says what the parallel path
        // costs where no core is free, not what it gives where one is.
        parallel.measured.push_str(
            "; not judged: the encoding workers had no CPU of their own here (one CPU for \
             the client, one for the server, which they shared)",
        );
        parallel.verdict = NOT_JUDGED.to_owned();
    }
    let mut out = vec![one_download(Path::Item, "direct path"), parallel];
    for workload in Workload::ALL {
        use PeerKind::{AxumStreams, AxumStreamsBytes, AxumStreamsItems};
        let peer = (compare.into_iter().flatten())
            .filter(|r| r.workload == workload.name() && r.source == Source::Http)
            .filter(|r| {
                let axum_streams = [AxumStreams, AxumStreamsItems, AxumStreamsBytes];
                r.limit == Limit::Http && axum_streams.map(Contestant::Peer).contains(&r.contestant)
            })
            .max_by(|a, b| a.ratio.0.total_cmp(&b.ratio.0));
        let over_peer = |encoder| {
            Some(over(
                ratio(Limit::Http, workload, Path::Item, encoder)?,
                peer?.ratio(),
            ))
        };
        let measured = over_peer(EncoderKind::SonicRs)
            .zip(peer)
            .map(|(ratio, peer)| {
                let words = format!(
                    "{}x ({}; serde_json on the same path: {}x)",
                    ratio.show(3),
                    peer.contestant.name(),
                    shown(over_peer(EncoderKind::SerdeJson))
                );
                (words, ratio, 1.0, true)
            });
        out.push(target(
            &format!(
                "{} over loopback HTTP, default features (sonic-rs), over the best \
                 axum-streams row",
                workload.name()
            ),
            "> 1x",
            measured,
            RUN_COMPARE,
        ));
    }
    out
}

/// Per workload: every chunkstream HTTP row paired with axum-streams on the server with
/// `TCP_NODELAY` above it, each whole interval above 1; the rows not above it are named.
/// The rows of the server without it are shown, not judged: they show what leaving
/// Nagle's algorithm on costs (README, "Serving over HTTP").
fn http_peer_targets(compare: Option<&[record::Compare]>) -> Vec<Verdict> {
    let mut out = Vec::new();
    for workload in Workload::ALL.map(Workload::name) {
        let paired = |limit: Limit| -> Vec<&record::Compare> {
            (compare.into_iter().flatten())
                .filter(|r| r.workload == workload && r.limit == limit)
                .filter(|r| r.contestant == Contestant::Chunkstream)
                .collect()
        };
        let (judged, nagle) = (paired(Limit::HttpPeer), paired(Limit::HttpPeerNagle));
        let (v, mut measured) = above_peer(&judged);
        if !nagle.is_empty() {
            let shown = above_peer(&nagle).1;
            measured.push_str(&format!(" (Nagle on, not judged: {shown})"));
        }
        if judged.is_empty() {
            measured = RUN_COMPARE.to_owned();
        }
        let what = format!(
            "{workload} over loopback HTTP (TCP_NODELAY), every chunkstream row paired with \
             axum-streams on the same server"
        );
        out.push(Verdict::new(&what, "> 1x, every row", "", &measured, v));
    }
    out
}

/// Whether every row is above its peer (each whole interval above 1), and in words: how
/// many are, and the rows below or straddling 1.
fn above_peer(rows: &[&record::Compare]) -> (&'static str, String) {
    let sides: Vec<Side> = rows.iter().map(|r| side(&r.ratio(), 1.0, true)).collect();
    let above = sides.iter().filter(|s| **s == Side::Right).count();
    let mut words = format!("{above} of {} rows above", rows.len());
    for (wanted, label) in [(Side::Wrong, "below"), (Side::Inconclusive, "either side")] {
        let named: Vec<String> = (rows.iter().zip(&sides))
            .filter(|(_, s)| **s == wanted)
            .map(|(r, _)| {
                let (path, pool, encoder) = (r.path.text(), r.pool.text(), r.encoder.text());
                format!("{path} {pool} {encoder} {}x", r.ratio().show(3))
            })
            .collect();
        if !named.is_empty() {
            words.push_str(&format!("; {label}: {}", named.join(", ")));
        }
    }
    (decide_every(&sides, ("met", "missed")), words)
}

/// The formats' targets (memory, tickets, freelist, serde_json): each format at least
/// [`LIMIT_TARGET`] of its own limit, and CSV and the envelope at least
/// [`FORMAT_PEER_TARGET`] times axum-streams' (the ratio of the two rows' ratios to the
/// same limit, measured in the same run).
fn format_targets(compare: Option<&[record::Compare]>) -> Vec<Verdict> {
    let row = |format: Framing, contestant: Contestant| {
        compare?.iter().find(|r| {
            r.workload == Workload::Tickets.name()
                && (r.source, r.format, r.contestant) == (Source::Memory, format, contestant)
        })
    };
    let mut out = Vec::new();
    // Each format with axum-streams' (it has no SSE).
    for (format, name, axum_streams) in [
        (Framing::Csv, "CSV", Some(PeerKind::AxumStreamsCsv)),
        (
            Framing::Envelope,
            "JSON envelope",
            Some(PeerKind::AxumStreamsEnvelope),
        ),
        (Framing::Sse, "SSE", None),
    ] {
        let ours = row(format, Contestant::Chunkstream);
        let what = format!("{name}, memory, tickets, freelist, default features (sonic-rs), over");
        out.push(target(
            &format!("{what} its own limit"),
            &format!(">= {LIMIT_TARGET}x its limit"),
            ours.map(|r| {
                (
                    format!("{}x", r.ratio().show(3)),
                    r.ratio(),
                    LIMIT_TARGET,
                    true,
                )
            }),
            RUN_COMPARE,
        ));
        let Some(axum_streams) = axum_streams else {
            continue;
        };
        let peer = row(format, Contestant::Peer(axum_streams));
        let measured = ours.zip(peer).map(|(ours, peer)| {
            let ratio = over(ours.ratio(), peer.ratio());
            let words = format!(
                "{}x (chunkstream {}x the limit, axum-streams {}x)",
                ratio.show(2),
                ours.ratio().show(3),
                peer.ratio().show(3)
            );
            (words, ratio, FORMAT_PEER_TARGET, true)
        });
        out.push(target(
            &format!("{what} axum-streams' {}", format.name()),
            &format!(">= {FORMAT_PEER_TARGET}x"),
            measured,
            RUN_COMPARE,
        ));
    }
    out
}

/// One headline ratio: what it compares, with its interval.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Headline {
    pub(crate) what: String,
    pub(crate) ratio: Estimate,
}

/// The headline ratios: chunkstream over Go (bulk stream) and the in-memory path over
/// its limit (tickets, freelist, serde_json). The HTTP rows are not headlines: client and
/// server need both cores, so their ratios move with the machine's load far more than
/// the single-threaded ones (see `compare.md`).
pub(crate) fn headlines(inputs: &Inputs<'_>) -> Vec<Headline> {
    let in_memory = ours(
        inputs.compare,
        None,
        TICKETS_IN_MEMORY,
        EncoderKind::SerdeJson,
    );
    let (bulk, at_best) = bulk_ratio(inputs).unwrap_or_default();
    let over = if at_best {
        ", over the slices of Go at its best"
    } else {
        ""
    };
    vec![
        Headline {
            what: format!(
                "chunkstream MB/s over the Go package's (bulk stream of tickets, one core \
                 each: Go at GOMAXPROCS=1{over})"
            ),
            ratio: bulk,
        },
        Headline {
            what: "chunkstream over the serde_json limit (memory, tickets, freelist, serde_json)"
                .into(),
            ratio: in_memory.map_or(Estimate::MISSING, record::Compare::ratio),
        },
    ]
}

/// The headline's bulk ratio over the Go package, and whether it is over the slices of
/// Go at its best (`go::best`) rather than every slice (reports made before it).
fn bulk_ratio(inputs: &Inputs<'_>) -> Option<(Estimate, bool)> {
    let go = |figure| go_bench::figure(inputs.go, figure);
    (go(GoFigure::BulkRatioAtGoBest).map(|e| (e, true)))
        .or_else(|| go(GoFigure::BulkRatio).map(|e| (e, false)))
}

/// A figure measured against a target: what was measured in words, the estimate, the
/// threshold, and whether higher is the right side.
type Measured = (String, Estimate, f64, bool);

/// A target's verdict by the interval rule when it was measured; else not measured,
/// saying why (`missing`).
fn target(what: &str, target: &str, measured: Option<Measured>, missing: &str) -> Verdict {
    match measured {
        Some((words, e, threshold, higher)) => {
            let v = decide(&e, threshold, higher, ("met", "missed"));
            Verdict::new(what, target, "", &words, v)
        }
        None => Verdict::new(what, target, "", missing, NOT_MEASURED),
    }
}

/// Verdicts on the design's targets.
pub(crate) fn targets(inputs: &Inputs<'_>) -> Vec<Verdict> {
    let go = |figure| go_bench::figure(inputs.go, figure);
    let shown = |figure, decimals| go(figure).map_or("-".into(), |e: Estimate| e.show(decimals));
    let mut out = vec![target(
        "bulk throughput over the Go package (tickets, same machine, one core each, \
         chunkstream's default features)",
        &format!(">= {GO_SPEEDUP_TARGET}x"),
        bulk_ratio(inputs).map(|(ratio, at_best)| {
            let best = match at_best {
                true => format!(
                    " against Go at its best; over every slice {}x",
                    shown(GoFigure::BulkRatio, 2)
                ),
                false => String::new(),
            };
            let words = format!(
                "{}x{best} (chunkstream {} MB/s, Go at GOMAXPROCS=1 {} MB/s); against Go at \
                 its default GOMAXPROCS (both cores, slower and unsteady from run to run \
                 here): {}x, Go {} MB/s",
                ratio.show(2),
                shown(GoFigure::BulkChunkstream, 0),
                shown(GoFigure::BulkGo, 0),
                shown(GoFigure::BulkRatioAllCores, 2),
                shown(GoFigure::BulkGoAllCores, 0)
            );
            (words, ratio, GO_SPEEDUP_TARGET, true)
        }),
        &go_bench::status(inputs.go),
    )];

    let tickets = |encoder| ours(inputs.compare, None, TICKETS_IN_MEMORY, encoder);
    let peers: Vec<String> = (inputs.compare.into_iter().flatten())
        .filter(|r| r.workload == Workload::Tickets.name() && r.source == Source::Memory)
        .filter(|r| r.format == Framing::Array && r.pool.is_none() && r.encoder.is_none())
        .map(|r| format!("{} {}x", r.contestant.name(), r.ratio().show(2)))
        .collect();
    out.push(target(
        "end-to-end throughput, memory, tickets, serde_json, freelist",
        ">= 0.95x the limit",
        tickets(EncoderKind::SerdeJson).map(|row| {
            let words = format!(
                "{}x the limit (peers: {})",
                row.ratio().show(3),
                peers.join(", ")
            );
            (words, row.ratio(), LIMIT_TARGET, true)
        }),
        RUN_COMPARE,
    ));

    let worst = steady_rows(inputs.steady).1.last().copied();
    out.push(target(
        "bytes allocated per 100-item request, any pooling strategy",
        "<= 1 KiB",
        worst.map(|r| {
            let words = format!("{} B (worst: {})", r.bytes().show(0), r.pool.text());
            (words, r.bytes(), 1024.0, false)
        }),
        RUN_COMPARE,
    ));

    // (case, what, (line, target), reference, why it is not judged): the row against
    // Go's sync.Pool is judged only when Go ran here, as the pool claim is.
    let go_absent = go_missing(inputs);
    for (case, what, (line, words), reference, absent) in [
        (
            Shape::OneThread,
            "pool get + put, best strategy, one thread",
            (1.0, "cheaper than a fresh Vec + drop (< 1x)"),
            "a fresh Vec",
            None,
        ),
        (
            Shape::CrossThread,
            "pool get + put, best strategy, get on one thread and put on another",
            (POOL_TARGET, "at most half a fresh Vec + drop (<= 0.5x)"),
            "a fresh Vec",
            None,
        ),
        (
            Shape::AgainstGo,
            "pool get + put, best strategy, one thread, against Go's sync.Pool",
            (POOL_TARGET, "at most half of Go's (<= 0.5x, same run)"),
            "Go's sync.Pool",
            go_absent.as_deref(),
        ),
    ] {
        let best = absent.is_none().then(|| best_pool(inputs.pool_ops, case));
        let measured = best.flatten().map(|r| {
            let words = format!(
                "{}x {reference} ({}: {} ns vs {} ns)",
                r.ratio().show(2),
                r.pool.name(),
                r.ns().show(1),
                r.reference_ns().show(1)
            );
            (words, r.ratio(), line, false)
        });
        out.push(target(what, words, measured, absent.unwrap_or(RUN_COMPARE)));
    }

    let sonic_limit = (inputs.compare.into_iter().flatten()).find(|r| {
        r.workload == Workload::Tickets.name()
            && r.contestant == Contestant::EncoderLimit(EncoderKind::SonicRs)
    });
    let sonic_paths = tickets(EncoderKind::SonicRs).zip(tickets(EncoderKind::SerdeJson));
    let sonic = sonic_paths.zip(sonic_limit).map(|((sonic, serde), limit)| {
        let ratio = combine(&[
            (sonic.ratio(), 1.0),
            (limit.ratio(), 1.0),
            (serde.ratio(), -1.0),
        ]);
        let words = format!(
            "{}x (sonic-rs path {}x its own limit; its limit {}x serde_json's)",
            ratio.show(2),
            sonic.ratio().show(3),
            limit.ratio().show(2)
        );
        (words, ratio, 1.0, true)
    });
    out.push(target(
        "sonic-rs path over the serde_json path (memory, tickets, freelist)",
        "faster (> 1x)",
        sonic,
        "sonic-rs is not in this build, or run `compare`",
    ));

    out.push(target(
        "peak memory streaming ten million items",
        "<= 16 MiB above baseline",
        inputs.soak.and_then(|s| s.first()).map(|r| {
            let above = r.peak_above_baseline_mib.0;
            let words = format!(
                "{} MiB above a {} MiB baseline ({} items; one run, the peak of its \
                 samples: exact)",
                fmt_num(above, 1),
                r.baseline_mib,
                r.items
            );
            (words, Estimate::exact(above), 16.0, false)
        }),
        "run `soak`",
    ));

    for r in inputs.first_byte.into_iter().flatten() {
        let interval = r.flush_interval_ms.0;
        let delays = r.delay();
        let words = format!(
            "{} ms after the first item (median of {} requests; max {} ms); interval {} ms",
            delays.show(1),
            r.requests,
            fmt_num(r.delay_ms_max.0, 1),
            fmt_num(interval, 0)
        );
        out.push(target(
            &format!(
                "first byte from a slow source with flush_interval ({})",
                r.path.name()
            ),
            "within the interval + 5 ms",
            Some((words, delays, interval + 5.0, false)),
            "",
        ));
    }

    let pool = |kind| inputs.mixed.and_then(|t| t.iter().find(|r| r.pool == kind));
    out.push(target(
        "Calibrated pool hit rate, large responses after tiny ones",
        ">= 0.9",
        pool(PoolKind::Calibrated).map(|r| {
            let freelist_allocs = pool(PoolKind::Freelist)
                .map_or("-".into(), |r| r.allocs_per_large_response.to_string());
            let words = format!(
                "{} ({} hits, {} misses over {} chunks after {} tiny responses, {} \
                 buffers dropped as oversize, {} allocations per large response \
                 (freelist: {freelist_allocs}); counted: exact)",
                fmt_num(r.hit_rate.0, 3),
                r.hits,
                r.misses,
                r.large_chunks,
                r.tiny_requests,
                r.dropped_oversize,
                r.allocs_per_large_response,
            );
            (words, Estimate::exact(r.hit_rate.0), 0.9, true)
        }),
        RUN_COMPARE,
    ));

    let service = (inputs.compare.into_iter().flatten()).find(|r| {
        r.source == Source::Service && r.contestant == Contestant::Service && r.items == 2330
    });
    out.push(target(
        "tickets service, one client, ~1 MB response (limit=2330), over the service \
         as it was (serde_json, sqlx, no TCP_NODELAY)",
        &format!(">= {SERVICE_TARGET}x"),
        service.map(|row| {
            let words = format!("{}x ({} MB/s)", row.ratio().show(2), row.mb_per_s);
            (words, row.ratio(), SERVICE_TARGET, true)
        }),
        RUN_COMPARE,
    ));

    out.extend(http_targets(inputs.compare, inputs.spare_cpus));
    out.extend(http_peer_targets(inputs.compare));
    out.extend(format_targets(inputs.compare));
    out.extend(paired_targets(inputs.parallel, "parallel"));
    out.extend(paired_targets(inputs.database, "database"));
    out
}

/// The rows of a paired subcommand's table (`parallel`, `database`) that carry a
/// target, with the verdict recomputed from their intervals by the same rule. Without
/// the table, one line says which command to run.
fn paired_targets(table: Option<&[record::Paired]>, command: &str) -> Vec<Verdict> {
    let Some(table) = table else {
        let what = format!("the `{command}` targets");
        let run = format!("run `{command}`");
        return vec![Verdict::new(&what, "see DESIGN.md", "", &run, NOT_MEASURED)];
    };
    (table.iter().filter(|r| r.target.0.is_finite()))
        .map(|r| {
            let ratio = r.ratio();
            let measured = (!ratio.is_missing()).then(|| {
                let words = format!(
                    "{}x ({} MB/s against {} MB/s)",
                    ratio.show(3),
                    r.mb_per_s,
                    r.reference_mb_per_s
                );
                (words, ratio, r.target.0, true)
            });
            let why = if r.note.is_empty() {
                "not run"
            } else {
                &r.note
            };
            target(
                &format!("{}: {}", r.section.replace("; ", ", "), r.contestant),
                &format!(">= {}x {}", r.target, r.reference),
                measured,
                why,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Num;

    /// Asserts that `text` holds `part`, showing both when it does not.
    #[track_caller]
    fn assert_has(text: &str, part: &str) {
        assert!(text.contains(part), "{text:?} does not hold {part:?}");
    }

    /// A compare row with the ratio `r` (median, low, high) over 21 pairs.
    fn paired(r: [f64; 3]) -> record::Compare {
        record::Compare {
            ratio: Num(r[0]),
            ratio_lo: Num(r[1]),
            ratio_hi: Num(r[2]),
            pairs: Num(21.0),
            ..record::Compare::default()
        }
    }

    fn tuning_row(w: &str, (b, th, batch): (usize, usize, usize), r: [f64; 3]) -> record::Tuning {
        record::Tuning {
            workload: w.into(),
            buffer_kib: b,
            threshold_kib: th,
            batch,
            ratio: Num(r[0]),
            ratio_lo: Num(r[1]),
            ratio_hi: Num(r[2]),
            ..record::Tuning::default()
        }
    }

    fn tuning() -> Vec<record::Tuning> {
        vec![
            tuning_row("tickets", (50, 32, 1000), [0.90, 0.89, 0.91]),
            tuning_row("tickets", (64, 32, 1000), [0.91, 0.90, 0.92]),
            tuning_row("tickets", (128, 64, 100), [0.99, 0.98, 1.00]),
            tuning_row("small", (50, 32, 1000), [0.80, 0.79, 0.81]),
            tuning_row("small", (16, 8, 1000), [0.805, 0.80, 0.81]),
        ]
    }

    /// The headline is over Go at its best when the run measured it, and over every
    /// slice in a report made before it; the target's words give both.
    #[test]
    fn the_bulk_headline_is_over_go_at_its_best_when_measured() {
        let row = |figure, median: f64| {
            let (value, lo, hi) = record::columns(&Estimate::new(median, median, median, 9));
            record::Go {
                figure,
                value,
                lo,
                hi,
                ..record::Go::default()
            }
        };
        let mut go = vec![row(GoFigure::BulkRatio, 6.8)];
        let headline = |go: &[record::Go]| {
            let inputs = Inputs {
                go: Some(go),
                ..Inputs::default()
            };
            let h = headlines(&inputs).remove(0);
            (h.ratio.median, h.what, targets(&inputs).remove(0).measured)
        };
        let (ratio, what, measured) = headline(&go);
        assert_eq!(ratio, 6.8);
        assert!(!what.contains("at its best"), "{what}");
        assert!(!measured.contains("at its best"), "{measured}");
        go.push(row(GoFigure::BulkRatioAtGoBest, 6.4));
        let (ratio, what, measured) = headline(&go);
        assert_eq!(ratio, 6.4);
        assert_has(&what, "over the slices of Go at its best");
        assert_has(
            &measured,
            "x against Go at its best; over every slice 6.80 [6.80, 6.80]x",
        );
    }

    #[test]
    fn optimum_is_the_highest_ratio_per_workload() {
        let t = tuning();
        assert_eq!(workloads(&t), ["tickets", "small"]);
        assert_eq!(optimum(&t, "tickets").unwrap().buffer_kib, 128);
        assert_eq!(optimum(&t, "small").unwrap().buffer_kib, 16);
        assert!(optimum(&t, "large").is_none());
    }

    #[test]
    fn a_setting_is_refuted_only_when_a_whole_gap_interval_exceeds_the_tolerance() {
        let t = tuning();
        let inputs = Inputs {
            tuning: Some(&t),
            ..Inputs::default()
        };
        let c = claims(&inputs);
        // Tickets: 0.90 [0.89, 0.91] against 0.99 [0.98, 1.00]: a 9% gap, surely > 3%.
        assert_eq!(c[0].verdict, "refuted (different optimum)");
        assert_has(&c[0].measured, "tickets: optimum 128");
        // Missing inputs are reported, never invented.
        assert!(c[3].verdict.starts_with(NOT_MEASURED), "{}", c[3].verdict);
        assert_eq!(targets(&Inputs::default())[1].verdict, NOT_MEASURED);
    }

    #[test]
    fn a_gap_straddling_the_tolerance_is_inconclusive() {
        let t = vec![
            tuning_row("tickets", (50, 32, 1000), [0.97, 0.90, 1.04]),
            tuning_row("tickets", (64, 32, 1000), [1.0, 0.99, 1.01]),
        ];
        let c = claims(&Inputs {
            tuning: Some(&t),
            ..Inputs::default()
        });
        assert_eq!(c[0].verdict, INCONCLUSIVE, "{:?}", c[0]);
        // The threshold and batch are the optimum's: exact zero gap.
        assert_eq!(c[2].verdict, "holds", "{:?}", c[2]);
    }

    #[test]
    fn combined_intervals_widen() {
        let a = Estimate::new(2.0, 1.9, 2.1, 10);
        let q = combine(&[(a, 1.0), (a, -1.0)]);
        assert!((q.median - 1.0).abs() < 1e-12);
        assert!(q.lo < 0.95 && q.hi > 1.05, "{q:?}");
    }

    #[test]
    fn pool_and_allocation_verdicts() {
        use Buffers::{Fresh, GoFresh, GoPool};
        use Shape::{AgainstGo, OneThread};
        let [freelist, thread_local] =
            [PoolKind::Freelist, PoolKind::ThreadLocal].map(Buffers::Pool);
        // (case, pool, reference, ns per op, ratio [median, lo, hi]); the reference
        // takes 20 ns.
        let ops: Vec<record::PoolOps> = [
            (OneThread, freelist, Fresh, 12.0, [0.6, 0.55, 0.65]),
            (AgainstGo, freelist, GoPool, 12.0, [1.2, 1.1, 1.3]),
            (AgainstGo, thread_local, GoPool, 4.5, [0.48, 0.47, 0.51]),
            (OneThread, GoPool, GoFresh, 10.0, [0.5, 0.4, 0.6]),
        ]
        .map(|(case, pool, reference, ns, r)| record::PoolOps {
            case,
            pool,
            reference,
            ns_per_op: Num(ns),
            ns_lo: Num(ns),
            ns_hi: Num(ns),
            reference_ns: Num(20.0),
            reference_ns_lo: Num(20.0),
            reference_ns_hi: Num(20.0),
            ratio: Num(r[0]),
            ratio_lo: Num(r[1]),
            ratio_hi: Num(r[2]),
            pairs: 31,
            ..record::PoolOps::default()
        })
        .to_vec();
        let steady_row = |pool, b: [f64; 3]| record::Steady {
            contestant: Contestant::Chunkstream,
            pool: Some(pool),
            bytes_per_request: Num(b[0]),
            bytes_lo: Num(b[1]),
            bytes_hi: Num(b[2]),
            ..record::Steady::default()
        };
        let steady = vec![
            steady_row(PoolKind::None, [60000.0; 3]),
            steady_row(PoolKind::Freelist, [600.0, 590.0, 610.0]),
        ];
        let go = vec![record::Go {
            note: "ok (go1.19)".into(),
            ..record::Go::default()
        }];
        let inputs = Inputs {
            pool_ops: Some(&ops),
            steady: Some(&steady),
            go: Some(&go),
            ..Inputs::default()
        };
        let c = claims(&inputs);
        // The best strategy (thread-local) is judged: below Go's, not yet half of it.
        assert_eq!(c[3].verdict, "holds (at most 3% above Go's, or cheaper)");
        assert!(
            c[3].go_here.starts_with("10.00 [10.00, 10.00] ns"),
            "{}",
            c[3].go_here
        );
        // No Go request figures: against the published 54 KB.
        assert_eq!(c[4].verdict, "holds (against Go's published 54 KB)");
        assert!(c[5].verdict.starts_with("holds"), "{}", c[5].verdict);
        let t = targets(&inputs);
        assert_eq!(t[2].verdict, "met", "{:?}", t[2]);
        assert_eq!(t[3].verdict, "met", "{:?}", t[3]);
        // At most half of Go's sync.Pool: an interval reaching above 0.5 is not met yet.
        assert!(t[5].what.contains("against Go's sync.Pool"), "{:?}", t[5]);
        assert!(
            t[5].measured
                .starts_with("0.48 [0.47, 0.51]x Go's sync.Pool (thread-local")
        );
        assert_eq!(t[5].verdict, "inconclusive", "{:?}", t[5]);
        // Without Go, the pool claim is not judged against a number from another machine.
        let no_go = Inputs { go: None, ..inputs };
        assert!(claims(&no_go)[3].verdict.starts_with(NOT_MEASURED));
        assert!(targets(&no_go)[5].verdict.starts_with(NOT_MEASURED));
    }

    /// One download is read from the rows paired with the serde_json limit itself (not
    /// through the HTTP limit); the peer target divides the direct path's ratio to the
    /// HTTP limit by the best axum-streams row's.
    #[test]
    fn http_targets_pair_one_download_with_serde_json_and_pick_the_best_peer() {
        use EncoderKind::{SerdeJson, SonicRs};
        let http = |r| record::Compare {
            workload: Workload::Tickets.name().into(),
            source: Source::Http,
            ..paired(r)
        };
        // chunkstream with the freelist pool on a path with an encoder, against a limit.
        let ours = |limit, path, encoder, r| record::Compare {
            limit,
            path: Some(path),
            pool: Some(PoolKind::Freelist),
            encoder: Some(encoder),
            ..http(r)
        };
        let peer = |peer, r| record::Compare {
            contestant: Contestant::Peer(peer),
            limit: Limit::Http,
            ..http(r)
        };
        let serde_json = Limit::Encoder(SerdeJson);
        let mut t = vec![
            record::Compare {
                contestant: Contestant::HttpLimit,
                encoder: Some(SerdeJson),
                limit: serde_json,
                ..http([2.5, 2.45, 2.55])
            },
            ours(Limit::Http, Path::Parallel, SonicRs, [0.30, 0.295, 0.305]),
            ours(Limit::Http, Path::Parallel, SerdeJson, [0.26, 0.25, 0.27]),
            ours(Limit::Http, Path::Item, SonicRs, [0.40, 0.39, 0.41]),
            ours(Limit::Http, Path::Item, SerdeJson, [0.30, 0.29, 0.31]),
            peer(PeerKind::AxumStreams, [0.20, 0.19, 0.21]),
            peer(PeerKind::AxumStreamsBytes, [0.41, 0.40, 0.42]),
            // Paired with the serde_json limit: what the one-download target reads.
            ours(serde_json, Path::Item, SonicRs, [0.95, 0.93, 0.97]),
            ours(serde_json, Path::Item, SerdeJson, [0.70, 0.69, 0.71]),
            ours(serde_json, Path::Parallel, SonicRs, [0.85, 0.84, 0.86]),
            ours(serde_json, Path::Parallel, SerdeJson, [0.60, 0.59, 0.61]),
        ];
        // The reference of the rows paired with axum-streams: not a row against the
        // HTTP limit, so never the best peer.
        t.push(record::Compare {
            limit: Limit::HttpPeer,
            ratio: Num(1.0),
            ratio_lo: Num(1.0),
            ratio_hi: Num(1.0),
            ..t[5].clone()
        });
        let v = http_targets(Some(&t), None);
        assert_eq!(v[0].verdict, "met", "{:?}", v[0]);
        assert!(v[0].measured.starts_with("0.950 ["), "{:?}", v[0]);
        assert_has(&v[0].measured, "serde_json on the same path: 0.700");
        assert!(v[0].what.contains("direct path"), "{:?}", v[0]);
        // The parallel path's own rows, not the direct path's.
        assert!(v[1].what.contains("two encoding workers"), "{:?}", v[1]);
        assert_eq!(v[1].verdict, "missed", "{:?}", v[1]);
        assert!(v[1].measured.starts_with("0.850 ["), "{:?}", v[1]);
        assert_has(&v[1].measured, "serde_json on the same path: 0.600");
        // 0.40 against the best peer's 0.41: the interval straddles 1.
        assert_eq!(v[2].verdict, INCONCLUSIVE, "{:?}", v[2]);
        assert_has(&v[2].measured, "axum-streams bytes=32KiB");
        // No rows for the other workloads.
        assert_eq!(v[3].verdict, NOT_MEASURED);
        assert_eq!(v[4].verdict, NOT_MEASURED);
        // Where the run had more CPUs than the client's and the server's, the workers
        // had some of their own: judged as before.
        assert_eq!(http_targets(Some(&t), Some(1))[1], v[1]);
        // Where it had none, the parallel row is shown, not judged, and says why; the
        // direct path is judged as before.
        let none_spare = http_targets(Some(&t), Some(0));
        assert_eq!(none_spare[0], v[0]);
        assert_eq!(none_spare[1].verdict, NOT_JUDGED, "{:?}", none_spare[1]);
        assert!(
            none_spare[1].measured.starts_with("0.850 ["),
            "{:?}",
            none_spare[1]
        );
        assert_has(&none_spare[1].measured, "no CPU of their own");
        // Unmeasured stays unmeasured.
        let unmeasured = http_targets(Some(&t[..1]), Some(0));
        assert_eq!(unmeasured[1].verdict, NOT_MEASURED);
    }

    /// Every paired row of a workload (server with `TCP_NODELAY`) must be above
    /// axum-streams: one row below is missed (and named), one straddling 1 is
    /// inconclusive; the rows without `TCP_NODELAY` are shown, not judged, and rows
    /// against the HTTP limit do not count.
    #[test]
    fn http_peer_targets_judge_every_paired_row() {
        let row = |workload: Workload, limit, path, r: [f64; 3]| record::Compare {
            workload: workload.name().into(),
            source: Source::Http,
            limit,
            path: Some(path),
            pool: Some(PoolKind::Freelist),
            encoder: Some(EncoderKind::SerdeJson),
            ..paired(r)
        };
        use Path::{Item, Parallel, Spawn};
        use Workload::{Large, Small, Tickets};
        let (peer, nagle) = (Limit::HttpPeer, Limit::HttpPeerNagle);
        let t = [
            row(Tickets, peer, Item, [2.0, 1.9, 2.1]),
            // Without TCP_NODELAY: shown, not judged.
            row(Tickets, nagle, Spawn, [0.1, 0.05, 0.2]),
            // Against the HTTP limit: not a paired row.
            row(Tickets, Limit::Http, Item, [0.2, 0.1, 0.3]),
            row(Small, peer, Item, [2.0, 1.9, 2.1]),
            row(Small, peer, Spawn, [1.01, 0.98, 1.04]),
            row(Large, peer, Item, [1.2, 1.1, 1.3]),
            row(Large, peer, Spawn, [0.9, 0.85, 0.95]),
            row(Large, peer, Parallel, [1.0, 0.9, 1.1]),
        ];
        let v = http_peer_targets(Some(&t));
        assert_eq!(v[0].verdict, "met", "{:?}", v[0]);
        assert_eq!(
            v[0].measured,
            "1 of 1 rows above (Nagle on, not judged: 0 of 1 rows above; \
             below: spawn freelist serde_json 0.100 [0.050, 0.200]x)"
        );
        assert_eq!(v[1].verdict, INCONCLUSIVE, "{:?}", v[1]);
        assert!(v[1].measured.contains("either side: spawn"), "{:?}", v[1]);
        assert_eq!(v[2].verdict, "missed", "{:?}", v[2]);
        assert!(v[2].measured.starts_with("1 of 3 rows above; below: spawn"));
        assert_has(&v[2].measured, "either side: parallel");
        let none = http_peer_targets(Some(&t[1..3]));
        assert!(none.iter().all(|v| v.verdict == NOT_MEASURED), "{none:?}");
    }

    /// Each format against its own limit by the interval rule, and CSV and the envelope
    /// against axum-streams' by the ratio of the two ratios; the formats' rows stay out
    /// of the JSON array's target.
    #[test]
    fn format_targets_judge_each_format_against_its_limit_and_axum_streams() {
        use Framing::{Array, Csv, Envelope, Sse};
        use PeerKind::{AxumStreamsCsv, AxumStreamsEnvelope};
        // chunkstream (freelist, serde_json, direct path) or a peer in a format.
        let row = |format, peer: Option<PeerKind>, r| {
            let ours = peer.is_none();
            record::Compare {
                workload: Workload::Tickets.name().into(),
                source: Source::Memory,
                format,
                path: ours.then_some(Path::Item),
                contestant: peer.map_or(Contestant::Chunkstream, Contestant::Peer),
                pool: ours.then_some(PoolKind::Freelist),
                encoder: ours.then_some(EncoderKind::SerdeJson),
                ..paired(r)
            }
        };
        let t = [
            row(Array, None, [0.97, 0.96, 0.98]),
            row(Csv, None, [0.97, 0.96, 0.98]),
            row(Csv, Some(AxumStreamsCsv), [0.30, 0.29, 0.31]),
            row(Envelope, None, [0.95, 0.93, 0.97]),
            row(Envelope, Some(AxumStreamsEnvelope), [0.50, 0.49, 0.51]),
            row(Sse, None, [0.90, 0.88, 0.92]),
        ];
        let v = format_targets(Some(&t));
        let verdicts: Vec<&str> = v.iter().map(|v| v.verdict.as_str()).collect();
        // CSV: 0.97 met, 3.2x axum-streams met; the envelope: 0.95 [0.93, 0.97]
        // straddles 0.95, 1.9x [1.8, 2.0] is wholly below 2; SSE: 0.90 missed.
        assert_eq!(verdicts, ["met", "met", INCONCLUSIVE, "missed", "missed"]);
        assert!(v[1].measured.starts_with("3.23 ["), "{:?}", v[1]);
        assert!(v[1].measured.contains("axum-streams 0.300"), "{:?}", v[1]);
        assert_eq!(v[3].claim, ">= 2x");
        assert!(v.iter().all(|v| v.measured != "run `compare`"));
        let inputs = Inputs {
            compare: Some(&t),
            ..Inputs::default()
        };
        let json = targets(&inputs);
        assert!(
            !json[1].measured.contains("axum-streams csv"),
            "{:?}",
            json[1]
        );
        // Nothing measured: five lines, each saying so.
        let none = format_targets(None);
        assert_eq!(none.len(), 5);
        assert!(none.iter().all(|v| v.verdict == NOT_MEASURED));
    }

    #[test]
    fn paired_rows_with_a_target_become_targets_by_the_interval_rule() {
        let row = |contestant: &str, target: f64, r: [f64; 3], note: &str| record::Paired {
            section: "bulk; memory".into(),
            contestant: contestant.into(),
            reference: "limit".into(),
            ratio: Num(r[0]),
            ratio_lo: Num(r[1]),
            ratio_hi: Num(r[2]),
            target: Num(target),
            note: note.into(),
            ..record::Paired::default()
        };
        let t = vec![
            row("no target", f64::NAN, [1.0, 0.9, 1.1], ""),
            row("met", 1.6, [1.7, 1.65, 1.75], ""),
            row("straddles", 1.6, [1.6, 1.55, 1.65], ""),
            row("missed", 1.6, [1.4, 1.3, 1.5], ""),
            row(
                "not run",
                2.0,
                [f64::NAN; 3],
                "not run (DATABASE_URL not set)",
            ),
        ];
        let v = paired_targets(Some(&t), "parallel");
        let verdicts: Vec<&str> = v.iter().map(|v| v.verdict.as_str()).collect();
        assert_eq!(verdicts, ["met", INCONCLUSIVE, "missed", NOT_MEASURED]);
        assert_eq!(v[0].what, "bulk, memory: met");
        assert_eq!(v[0].claim, ">= 1.60x limit");
        assert_eq!(v[3].measured, "not run (DATABASE_URL not set)");
        let missing = paired_targets(None, "database");
        assert_eq!(missing[0].measured, "run `database`");
    }
}
