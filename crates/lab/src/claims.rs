//! The Go package's claims and the design's targets, each beside what the lab measured
//! (read from the CSVs) and a verdict. Pure functions of the tables: the claims are the
//! only figures written here, and they are the Go package's, not ours.

use crate::table::{Row, Table, fmt_num};

/// The Go package's buffer size, KiB ("50 KB").
pub(crate) const GO_BUFFER_KIB: f64 = 50.0;
/// The Go package's chunk threshold, KiB.
pub(crate) const GO_THRESHOLD_KIB: f64 = 32.0;
/// The Go package's batch size.
pub(crate) const GO_BATCH: f64 = 1000.0;
/// The Go package's pool overhead, ns per get + put.
pub(crate) const GO_POOL_NS: f64 = 8.37;
/// The Go package's bytes allocated per request without its pool, KB.
pub(crate) const GO_BYTES_BEFORE_KB: f64 = 111.0;
/// ... and with it.
pub(crate) const GO_BYTES_AFTER_KB: f64 = 54.0;
/// The Go package's claimed saving.
pub(crate) const GO_SAVING: f64 = 0.51;

/// A setting "holds" when the best throughput reachable with it is within this fraction
/// of the optimum: the run-to-run spread of a median on this shared machine is of that
/// order, so a smaller gap is not a different optimum.
pub(crate) const TOLERANCE: f64 = 0.03;
/// Measured bytes per request "match" a Go figure within this fraction.
pub(crate) const BYTES_TOLERANCE: f64 = 0.25;

/// The tables the verdicts are computed from (each may be missing: not measured).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Inputs<'a> {
    /// `compare.csv`.
    pub(crate) compare: Option<&'a Table>,
    /// `pool_ops.csv`.
    pub(crate) pool_ops: Option<&'a Table>,
    /// `alloc_steady.csv`.
    pub(crate) steady: Option<&'a Table>,
    /// `tuning.csv`.
    pub(crate) tuning: Option<&'a Table>,
    /// `soak_summary.csv`.
    pub(crate) soak: Option<&'a Table>,
    /// `first_byte.csv`.
    pub(crate) first_byte: Option<&'a Table>,
}

/// One line of a claims or targets table.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Verdict {
    /// What is claimed or targeted.
    pub(crate) what: String,
    /// The claim or target.
    pub(crate) claim: String,
    /// What was measured here.
    pub(crate) measured: String,
    /// holds / refuted / different optimum / met / missed / not measured.
    pub(crate) verdict: String,
}

const NOT_MEASURED: &str = "not measured";

fn verdict(what: &str, claim: &str, measured: String, verdict: &str) -> Verdict {
    Verdict {
        what: what.to_owned(),
        claim: claim.to_owned(),
        measured,
        verdict: verdict.to_owned(),
    }
}

/// The row with the highest `ratio` among `rows`.
pub(crate) fn best<'a>(rows: impl Iterator<Item = Row<'a>>) -> Option<Row<'a>> {
    rows.filter(|r| !r.num("ratio").is_nan())
        .max_by(|a, b| a.num("ratio").total_cmp(&b.num("ratio")))
}

/// The workloads present in a tuning table, in order of appearance.
pub(crate) fn workloads(tuning: &Table) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for row in tuning.iter() {
        if !out.iter().any(|w| w == row.get("workload")) {
            out.push(row.get("workload").to_owned());
        }
    }
    out
}

/// The optimum configuration of `workload` in a tuning table.
pub(crate) fn optimum<'a>(tuning: &'a Table, workload: &str) -> Option<Row<'a>> {
    best(tuning.iter().filter(|r| r.get("workload") == workload))
}

/// For one tuned dimension (`column` claimed at `claimed`), per workload: the optimum
/// value, the best ratio with the claimed value, the optimum ratio, and the verdict.
fn setting(tuning: Option<&Table>, what: &str, claim: &str, column: &str, claimed: f64) -> Verdict {
    let Some(tuning) = tuning else {
        return verdict(what, claim, "run `tune`".into(), NOT_MEASURED);
    };
    let mut measured = Vec::new();
    let mut holds = 0;
    let mut total = 0;
    for w in workloads(tuning) {
        let Some(opt) = optimum(tuning, &w) else {
            continue;
        };
        let with_claim = best(
            tuning
                .iter()
                .filter(|r| r.get("workload") == w && r.num(column) == claimed),
        );
        let claimed_ratio = with_claim.map_or(f64::NAN, |r| r.num("ratio"));
        let gap = 1.0 - claimed_ratio / opt.num("ratio");
        total += 1;
        if gap <= TOLERANCE {
            holds += 1;
        }
        measured.push(format!(
            "{w}: optimum {} (ratio {}), with {} {} (gap {}%)",
            opt.get(column),
            fmt_num(opt.num("ratio"), 3),
            claim,
            fmt_num(claimed_ratio, 3),
            fmt_num(gap * 100.0, 1),
        ));
    }
    let v = match (holds, total) {
        (_, 0) => NOT_MEASURED,
        (h, t) if h == t => "holds",
        (0, _) => "different optimum",
        _ => "different optimum for some workloads",
    };
    verdict(what, claim, measured.join("; "), v)
}

/// Verdicts on the Go package's claims.
pub(crate) fn claims(inputs: &Inputs<'_>) -> Vec<Verdict> {
    let mut out = vec![
        setting(
            inputs.tuning,
            "buffer size",
            "50 KiB",
            "buffer_kib",
            GO_BUFFER_KIB,
        ),
        setting(
            inputs.tuning,
            "chunk threshold",
            "32 KiB",
            "threshold_kib",
            GO_THRESHOLD_KIB,
        ),
        setting(inputs.tuning, "batch size", "1000", "batch", GO_BATCH),
    ];
    out.push(match best_pool_ns(inputs.pool_ops) {
        Some((pool, ns)) => verdict(
            "pool overhead (get + put)",
            "8.37 ns/op",
            format!(
                "{} ns/op ({pool}, the fastest pooling strategy, one thread)",
                fmt_num(ns, 2)
            ),
            if ns <= GO_POOL_NS { "holds" } else { "refuted" },
        ),
        None => verdict(
            "pool overhead (get + put)",
            "8.37 ns/op",
            "run `compare`".into(),
            NOT_MEASURED,
        ),
    });
    match steady_bytes(inputs.steady) {
        Some((none, (pool, pooled))) => {
            let close = |m: f64, c: f64| ((m / 1000.0) - c).abs() / c <= BYTES_TOLERANCE;
            out.push(verdict(
                "bytes allocated per request",
                "111 KB -> 54 KB",
                format!(
                    "{} KB -> {} KB (100 tickets; none -> {pool})",
                    fmt_num(none / 1000.0, 1),
                    fmt_num(pooled / 1000.0, 2)
                ),
                if close(none, GO_BYTES_BEFORE_KB) && close(pooled, GO_BYTES_AFTER_KB) {
                    "holds"
                } else {
                    "refuted (different figures here)"
                },
            ));
            let saving = 1.0 - pooled / none;
            out.push(verdict(
                "allocation saving from pooling",
                "51%",
                format!("{}%", fmt_num(saving * 100.0, 1)),
                if saving >= GO_SAVING {
                    "holds (at least as large)"
                } else {
                    "refuted"
                },
            ));
        }
        None => {
            out.push(verdict(
                "bytes allocated per request",
                "111 KB -> 54 KB",
                "run `compare`".into(),
                NOT_MEASURED,
            ));
            out.push(verdict(
                "allocation saving from pooling",
                "51%",
                "run `compare`".into(),
                NOT_MEASURED,
            ));
        }
    }
    out
}

/// The fastest pooling strategy (not `none`) and its ns per get + put.
fn best_pool_ns(pool_ops: Option<&Table>) -> Option<(String, f64)> {
    pool_ops?
        .iter()
        .filter(|r| r.get("pool") != "none" && !r.num("ns_per_get_put").is_nan())
        .min_by(|a, b| a.num("ns_per_get_put").total_cmp(&b.num("ns_per_get_put")))
        .map(|r| (r.get("pool").to_owned(), r.num("ns_per_get_put")))
}

/// Bytes per request with no pool, and the best pooling strategy's.
fn steady_bytes(steady: Option<&Table>) -> Option<(f64, (String, f64))> {
    let steady = steady?;
    let chunkstream = || {
        steady
            .iter()
            .filter(|r| r.get("contestant") == "chunkstream")
    };
    let none = chunkstream()
        .find(|r| r.get("pool") == "none")?
        .num("bytes_per_request");
    let best = chunkstream()
        .filter(|r| r.get("pool") != "none")
        .min_by(|a, b| {
            a.num("bytes_per_request")
                .total_cmp(&b.num("bytes_per_request"))
        })?;
    Some((
        none,
        (best.get("pool").to_owned(), best.num("bytes_per_request")),
    ))
}

/// The worst pooling strategy's bytes per request.
fn worst_pooled_bytes(steady: Option<&Table>) -> Option<(String, f64)> {
    steady?
        .iter()
        .filter(|r| r.get("contestant") == "chunkstream" && r.get("pool") != "none")
        .max_by(|a, b| {
            a.num("bytes_per_request")
                .total_cmp(&b.num("bytes_per_request"))
        })
        .map(|r| (r.get("pool").to_owned(), r.num("bytes_per_request")))
}

fn compare_ratio(compare: Option<&Table>, pred: impl Fn(&Row<'_>) -> bool) -> Option<f64> {
    compare?.iter().find(|r| pred(r)).map(|r| r.num("ratio"))
}

fn memory_tickets(r: &Row<'_>) -> bool {
    r.get("workload") == "tickets"
        && r.get("source") == "memory"
        && r.get("format") == "json_array"
        && r.get("path") == "stream"
}

/// Verdicts on the design's targets.
pub(crate) fn targets(inputs: &Inputs<'_>) -> Vec<Verdict> {
    let mut out = Vec::new();
    let what = "end-to-end throughput, memory, serde_json, freelist";
    out.push(
        match compare_ratio(inputs.compare, |r| {
            memory_tickets(r) && r.get("pool") == "freelist" && r.get("encoder") == "serde_json"
        }) {
            Some(ratio) => {
                let peers: Vec<String> = inputs
                    .compare
                    .into_iter()
                    .flat_map(Table::iter)
                    .filter(|r| {
                        r.get("workload") == "tickets"
                            && r.get("source") == "memory"
                            && r.get("pool") == "-"
                            && r.get("contestant") != "limit"
                    })
                    .map(|r| format!("{} {}x", r.get("contestant"), fmt_num(r.num("ratio"), 2)))
                    .collect();
                verdict(
                    what,
                    ">= 0.95x the limit",
                    format!(
                        "{}x the limit (peers: {})",
                        fmt_num(ratio, 3),
                        peers.join(", ")
                    ),
                    if ratio >= 0.95 { "met" } else { "missed" },
                )
            }
            None => verdict(
                what,
                ">= 0.95x the limit",
                "run `compare`".into(),
                NOT_MEASURED,
            ),
        },
    );
    let what = "bytes allocated per 100-item request, any pooling strategy";
    out.push(match worst_pooled_bytes(inputs.steady) {
        Some((pool, bytes)) => verdict(
            what,
            "<= 1 KiB",
            format!("{} B (worst: {pool})", fmt_num(bytes, 0)),
            if bytes <= 1024.0 { "met" } else { "missed" },
        ),
        None => verdict(what, "<= 1 KiB", "run `compare`".into(), NOT_MEASURED),
    });
    let what = "pool get + put, best strategy, one thread";
    out.push(match best_pool_ns(inputs.pool_ops) {
        Some((pool, ns)) => verdict(
            what,
            "<= 8.37 ns",
            format!("{} ns ({pool})", fmt_num(ns, 2)),
            if ns <= GO_POOL_NS { "met" } else { "missed" },
        ),
        None => verdict(what, "<= 8.37 ns", "run `compare`".into(), NOT_MEASURED),
    });
    let what = "peak memory streaming ten million items";
    out.push(match inputs.soak.and_then(|s| s.iter().next()) {
        Some(r) => {
            let above = r.num("peak_above_baseline_mib");
            verdict(
                what,
                "flat; <= 16 MiB above baseline",
                format!(
                    "{} MiB above a {} MiB baseline ({} items)",
                    fmt_num(above, 1),
                    fmt_num(r.num("baseline_mib"), 1),
                    r.get("items")
                ),
                if above <= 16.0 { "met" } else { "missed" },
            )
        }
        None => verdict(
            what,
            "<= 16 MiB above baseline",
            "run `soak`".into(),
            NOT_MEASURED,
        ),
    });
    let what = "first byte from a slow source with flush_interval";
    out.push(match inputs.first_byte.and_then(|t| t.iter().next()) {
        Some(r) => {
            let (interval, delay) = (r.num("flush_interval_ms"), r.num("delay_ms_max"));
            verdict(
                what,
                "within the interval plus a few ms",
                format!(
                    "first chunk {} ms (max {} ms) after the first item; interval {} ms",
                    fmt_num(r.num("delay_ms_median"), 1),
                    fmt_num(delay, 1),
                    fmt_num(interval, 0)
                ),
                if delay <= interval + 5.0 {
                    "met"
                } else {
                    "missed"
                },
            )
        }
        None => verdict(
            what,
            "interval + a few ms",
            "run `compare`".into(),
            NOT_MEASURED,
        ),
    });
    let what = "sonic-rs encoder path vs serde_json";
    let sonic = compare_ratio(inputs.compare, |r| {
        memory_tickets(r) && r.get("pool") == "freelist" && r.get("encoder") == "sonic-rs"
    });
    let serde = compare_ratio(inputs.compare, |r| {
        memory_tickets(r) && r.get("pool") == "freelist" && r.get("encoder") == "serde_json"
    });
    out.push(match (sonic, serde) {
        (Some(sonic), Some(serde)) => verdict(
            what,
            "faster than serde_json",
            format!(
                "sonic-rs {}x, serde_json {}x the limit",
                fmt_num(sonic, 3),
                fmt_num(serde, 3)
            ),
            if sonic > serde { "met" } else { "missed" },
        ),
        _ => verdict(
            what,
            "faster than serde_json",
            "sonic-rs is not in this build".into(),
            NOT_MEASURED,
        ),
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuning() -> Table {
        let mut t = Table::new(&["workload", "buffer_kib", "threshold_kib", "batch", "ratio"]);
        for (w, b, th, batch, r) in [
            ("tickets", "50", "32", "1000", "0.90"),
            ("tickets", "64", "32", "1000", "0.91"),
            ("tickets", "128", "64", "100", "0.99"),
            ("small", "50", "32", "1000", "0.80"),
            ("small", "16", "8", "1000", "0.81"),
        ] {
            t.push(vec![w.into(), b.into(), th.into(), batch.into(), r.into()]);
        }
        t
    }

    #[test]
    fn optimum_is_the_highest_ratio_per_workload() {
        let t = tuning();
        assert_eq!(workloads(&t), ["tickets", "small"]);
        assert_eq!(optimum(&t, "tickets").unwrap().get("buffer_kib"), "128");
        assert_eq!(optimum(&t, "small").unwrap().get("buffer_kib"), "16");
        assert!(optimum(&t, "large").is_none());
    }

    #[test]
    fn settings_hold_within_tolerance_only() {
        let t = tuning();
        let inputs = Inputs {
            tuning: Some(&t),
            ..Inputs::default()
        };
        let c = claims(&inputs);
        // 50 KiB: small within 3% (0.80 vs 0.81), tickets not (0.90 vs 0.99).
        assert_eq!(c[0].verdict, "different optimum for some workloads");
        assert!(
            c[0].measured.contains("tickets: optimum 128"),
            "{}",
            c[0].measured
        );
        // Missing inputs are reported, never invented.
        assert_eq!(c[3].verdict, NOT_MEASURED);
        assert_eq!(targets(&Inputs::default())[0].verdict, NOT_MEASURED);
    }

    #[test]
    fn pool_and_allocation_verdicts() {
        let mut ops = Table::new(&["pool", "ns_per_get_put"]);
        ops.push(vec!["none".into(), "30".into()]);
        ops.push(vec!["freelist".into(), "12.5".into()]);
        let mut steady = Table::new(&["contestant", "pool", "bytes_per_request"]);
        steady.push(vec!["chunkstream".into(), "none".into(), "60000".into()]);
        steady.push(vec!["chunkstream".into(), "freelist".into(), "600".into()]);
        let inputs = Inputs {
            pool_ops: Some(&ops),
            steady: Some(&steady),
            ..Inputs::default()
        };
        let c = claims(&inputs);
        assert_eq!(c[3].verdict, "refuted");
        assert!(c[3].measured.starts_with("12.50 ns/op (freelist"));
        assert_eq!(c[4].verdict, "refuted (different figures here)");
        assert_eq!(c[5].verdict, "holds (at least as large)");
        assert_eq!(c[5].measured, "99.0%");
        assert_eq!(targets(&inputs)[1].verdict, "met");
    }
}
