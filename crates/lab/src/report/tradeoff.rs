//! What the tuning sweep says a setting costs: per knob and workload, the smallest
//! setting whose best throughput is within the tolerance of the optimum, and the memory
//! it holds per concurrent stream (the buffers in flight times their size, plus one
//! batch of items at their JSON size); the recommended defaults follow from those.

use crate::record::{self, fmt_num};
use crate::report::claims::{self, KNOBS, Knob, Setting, TOLERANCE};

/// Buffers in flight per stream: the one being filled and the chunk being written.
pub(crate) const BUFFERS_IN_FLIGHT: f64 = 2.0;

/// Memory held per concurrent stream by the configuration of `row`, KiB.
fn memory_kib(row: &record::Tuning) -> f64 {
    let item_bytes = row.body_bytes as f64 / row.items as f64;
    let batch = if item_bytes.is_finite() {
        row.batch as f64 * item_bytes / 1024.0
    } else {
        0.0
    };
    BUFFERS_IN_FLIGHT * row.buffer_kib as f64 + batch
}

/// The smallest value of one knob on one workload within the tolerance, as shown: the
/// best ratio with it, the optimum's value and ratio, and the memory per stream (KiB)
/// of the best configuration with it and with Go's value.
#[derive(Clone, Debug)]
pub(crate) struct Smallest {
    pub(crate) workload: String,
    pub(crate) knob: &'static Knob,
    pub(crate) value: f64,
    pub(crate) ratio: String,
    pub(crate) optimum: String,
    pub(crate) memory_kib: f64,
    pub(crate) go_memory_kib: f64,
}

/// Per workload and knob, the smallest setting within the tolerance of the optimum.
pub(crate) fn smallest(sweep: &[record::Tuning]) -> Vec<Smallest> {
    let mut out = Vec::new();
    for w in claims::workloads(sweep) {
        let Some(opt) = claims::optimum(sweep, w) else {
            continue;
        };
        let floor = (1.0 - TOLERANCE) * opt.ratio.0;
        for knob in &KNOBS {
            let rows = sweep.iter().filter(|r| r.workload == w);
            let mut values: Vec<usize> = rows.map(knob.value).collect();
            values.sort_unstable();
            values.dedup();
            let best_with = |v: f64| claims::best_with(sweep, w, knob, v);
            let Some((value, row)) = values
                .iter()
                .filter_map(|&v| best_with(v as f64).map(|r| (v as f64, r)))
                .find(|(_, r)| r.ratio.0 >= floor)
            else {
                continue;
            };
            out.push(Smallest {
                workload: w.to_owned(),
                knob,
                value,
                ratio: row.ratio().show(3),
                optimum: format!("{} ({})", (knob.value)(opt), opt.ratio().show(3)),
                memory_kib: memory_kib(row),
                go_memory_kib: best_with(knob.go).map_or(f64::NAN, memory_kib),
            });
        }
    }
    out
}

/// The recommended default of each knob: the largest of the per-workload smallest
/// settings (so it is within the tolerance on every workload), with the trade in words.
pub(crate) fn recommendations(smallest: &[Smallest]) -> Vec<(String, String)> {
    let tolerance = fmt_num(TOLERANCE * 100.0, 0);
    let in_flight = fmt_num(BUFFERS_IN_FLIGHT, 0);
    let mut out = Vec::new();
    for knob in &KNOBS {
        let (name, unit, go) = (knob.name, knob.unit, knob.go);
        let rows: Vec<&Smallest> = (smallest.iter())
            .filter(|s| s.knob.setting == knob.setting)
            .collect();
        let Some(pick) = rows.iter().max_by(|a, b| a.value.total_cmp(&b.value)) else {
            continue;
        };
        let value = pick.value;
        let (shown, go_shown) = (fmt_num(value, 0), fmt_num(go, 0));
        let per_workload: Vec<String> = rows
            .iter()
            .map(|s| format!("{} {}", s.workload, fmt_num(s.value, 0)))
            .collect();
        let trade = match knob.setting {
            Setting::Buffer => {
                let diff = BUFFERS_IN_FLIGHT * (go - value);
                let (amount, word) = (diff.abs(), if diff >= 0.0 { "less" } else { "more" });
                let saving = if diff == 0.0 {
                    "the same as Go's".to_owned()
                } else {
                    format!(
                        "{} KiB {word} per stream, {} MiB {word} for 1000 concurrent streams",
                        fmt_num(amount, 0),
                        fmt_num(amount * 1000.0 / 1024.0, 1)
                    )
                };
                format!(
                    "per stream {in_flight} x {shown} KiB = {} KiB in flight where Go's \
                     {go_shown} KiB holds {} KiB: {saving}, within {tolerance}% of the best \
                     throughput",
                    fmt_num(BUFFERS_IN_FLIGHT * value, 0),
                    fmt_num(BUFFERS_IN_FLIGHT * go, 0),
                )
            }
            Setting::Threshold => format!(
                "the threshold sets the chunk size, not the memory (the buffer does): a \
                 smaller one sends the first chunk sooner and writes more, smaller frames; \
                 {shown} KiB is the smallest within {tolerance}% of the optimum on every \
                 workload (Go: {go_shown} KiB)"
            ),
            Setting::Batch => {
                let mem: Vec<String> = rows
                    .iter()
                    .map(|s| {
                        format!(
                            "{} {} KiB (with Go's {go_shown}: {} KiB)",
                            s.workload,
                            fmt_num(s.memory_kib, 0),
                            fmt_num(s.go_memory_kib, 0)
                        )
                    })
                    .collect();
                format!(
                    "a batch of {shown} items is held while it is transformed; memory per \
                     stream of the best configuration with it: {}",
                    mem.join(", ")
                )
            }
        };
        out.push((
            format!("{name}: {shown} {unit}"),
            format!(
                "smallest within {tolerance}% of the optimum per workload: {}; {trade}.",
                per_workload.join(", ")
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Num;

    fn sweep() -> Vec<record::Tuning> {
        [
            (4, 4, 1000, 0.90),
            (16, 8, 1000, 0.975),
            (50, 32, 1000, 0.99),
            (64, 32, 100, 1.00),
        ]
        .map(|(b, th, n, r)| record::Tuning {
            workload: "tickets".into(),
            buffer_kib: b,
            threshold_kib: th,
            batch: n,
            items: 2000,
            body_bytes: 1_024_000,
            ratio: Num(r),
            ratio_lo: Num(r),
            ratio_hi: Num(r),
            ..record::Tuning::default()
        })
        .to_vec()
    }

    #[test]
    fn the_smallest_setting_within_tolerance_and_its_memory() {
        let s = smallest(&sweep());
        let of = |setting| s.iter().find(|s| s.knob.setting == setting).unwrap();
        // 0.975 >= 0.97 x 1.00: 16 KiB is within 3%; 4 KiB (0.90) is not.
        let buffer = of(Setting::Buffer);
        assert_eq!(buffer.value, 16.0);
        // 2 x 16 KiB + 1000 items x 512 B.
        assert_eq!(buffer.memory_kib, 32.0 + 500.0);
        assert_eq!(of(Setting::Batch).value, 100.0);
        let recs = recommendations(&s);
        assert_eq!(recs[0].0, "buffer size: 16 KiB");
        assert!(
            recs[0].1.contains("68 KiB less per stream"),
            "{}",
            recs[0].1
        );
    }
}
