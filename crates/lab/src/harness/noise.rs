//! The noise gate: how much a reference's block time changed from one block to the next
//! during a run. When that is high the machine was busy (other builds, other
//! processes), intervals widen, and the report and the terminal say so in words.

use crate::record::{self, Num, fmt_num};

/// Above this block-to-block variation of the references (median relative change
/// between neighbouring blocks) a run is called noisy.
const NOISY: f64 = 0.05;

/// The variations of one run, per measurement.
#[derive(Clone, Debug, Default)]
pub(crate) struct Noise {
    parts: Vec<(String, f64)>,
}

impl Noise {
    /// Records the variation of one measurement (NaN: not measured).
    pub(crate) fn add(&mut self, measurement: &str, variation: f64) {
        self.parts.push((measurement.to_owned(), variation));
    }

    /// As `noise.csv`.
    pub(crate) fn table(&self) -> Vec<record::Noise> {
        self.parts
            .iter()
            .map(|(name, v)| record::Noise {
                measurement: name.clone(),
                variation: Num(*v),
                threshold: Num(NOISY),
                noisy: *v > NOISY,
            })
            .collect()
    }

    /// The warning in words, when any measurement was noisy.
    pub(crate) fn warning(&self) -> Option<String> {
        warning(&self.table())
    }
}

/// The warning in words for a `noise.csv`, when any measurement in it was noisy.
pub(crate) fn warning(table: &[record::Noise]) -> Option<String> {
    let noisy: Vec<String> = table
        .iter()
        .filter(|r| r.noisy)
        .map(|r| {
            format!(
                "{} (the reference's time changed by {}% from one block to the next)",
                r.measurement,
                fmt_num(r.variation.0 * 100.0, 1)
            )
        })
        .collect();
    (!noisy.is_empty()).then(|| {
        format!(
            "this machine was noisy during the run: {}, above the {}% the lab calls quiet. \
             Intervals are wider and more verdicts are inconclusive; for figures to rely on, \
             rerun while nothing else runs.",
            noisy.join("; "),
            fmt_num(NOISY * 100.0, 0)
        )
    })
}

/// One line on the noise of a run, noisy or not (for the top of a report).
pub(crate) fn summary(table: &[record::Noise]) -> String {
    match warning(table) {
        Some(w) => format!("**Noise warning**: {w}"),
        None => {
            let parts: Vec<String> = table
                .iter()
                .map(|r| format!("{} {}%", r.measurement, fmt_num(r.variation.0 * 100.0, 1)))
                .collect();
            format!(
                "Noise: quiet run (block-to-block variation of the references: {}; the lab \
                 calls a run noisy above {}%).",
                parts.join(", "),
                fmt_num(NOISY * 100.0, 0)
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_only_when_noisy() {
        let mut noisy = Noise::default();
        noisy.add("compare", 0.01);
        assert!(noisy.warning().is_none());
        assert!(summary(&noisy.table()).starts_with("Noise: quiet run"));
        noisy.add("pool_ops", 0.12);
        let w = noisy.warning().unwrap();
        assert!(w.contains("pool_ops") && w.contains("12.0%"), "{w}");
        assert!(!w.contains("compare"), "{w}");
    }
}
