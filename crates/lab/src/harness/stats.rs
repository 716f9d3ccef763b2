//! Small statistics: medians, ratios, seeded bootstrap confidence intervals and the
//! verdict rule. NaN-aware: a missing figure stays missing.

use chunkstream_benches::workload::Rng;

/// Bootstrap resamples per interval.
const RESAMPLES: usize = 1000;

/// The seed of every bootstrap (intervals are deterministic functions of the samples).
const BOOTSTRAP_SEED: u64 = 0x5eed_b007;

/// The median of `values` (the mean of the middle two for an even count); NaN when
/// there are none. NaNs sort last and count like values.
pub(crate) fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    median_sorted(&sorted)
}

fn median_sorted(sorted: &[f64]) -> f64 {
    let mid = sorted.len() / 2;
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[mid],
        _ => (sorted[mid - 1] + sorted[mid]) / 2.0,
    }
}

/// `part / whole`, NaN when `whole` is zero or either is NaN.
pub(crate) fn ratio(part: f64, whole: f64) -> f64 {
    if whole == 0.0 || whole.is_nan() || part.is_nan() {
        f64::NAN
    } else {
        part / whole
    }
}

/// The `q` quantile (0..=1) of sorted values, nearest rank.
fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len().max(1) - 1) as f64 * q).round() as usize;
    sorted.get(i).copied().unwrap_or(f64::NAN)
}

/// A median with its bootstrap 95% confidence interval, from `n` samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Estimate {
    pub(crate) median: f64,
    pub(crate) lo: f64,
    pub(crate) hi: f64,
    pub(crate) n: usize,
}

impl Default for Estimate {
    fn default() -> Self {
        Estimate::MISSING
    }
}

impl Estimate {
    pub(crate) const MISSING: Estimate = Estimate::new(f64::NAN, f64::NAN, f64::NAN, 0);

    pub(crate) const fn new(median: f64, lo: f64, hi: f64, n: usize) -> Estimate {
        Estimate { median, lo, hi, n }
    }

    /// An exact figure (a count, not a sample): its interval is itself.
    pub(crate) fn exact(value: f64) -> Estimate {
        Estimate::new(value, value, value, 1)
    }

    /// The median of `samples` with a percentile bootstrap 95% interval of the median
    /// (seeded: the same samples always give the same interval).
    pub(crate) fn of(samples: &[f64]) -> Estimate {
        Estimate::of_groups(std::slice::from_ref(&samples.to_vec()))
    }

    /// The median of the pooled `groups` with a two-level percentile bootstrap 95%
    /// interval (seeded): each resample draws groups with replacement, then samples
    /// within each drawn group; one group is the plain bootstrap of [`of`](Estimate::of).
    /// Use it when the groups may differ from each other (each slice of the Go
    /// comparison runs a fresh Go process): the interval then covers the spread between
    /// groups, which a bootstrap of the pooled samples would hide.
    pub(crate) fn of_groups(groups: &[Vec<f64>]) -> Estimate {
        let groups: Vec<Vec<f64>> = groups
            .iter()
            .map(|g| g.iter().copied().filter(|v| v.is_finite()).collect())
            .filter(|g: &Vec<f64>| !g.is_empty())
            .collect();
        let pooled: Vec<f64> = groups.concat();
        if pooled.is_empty() {
            return Estimate::MISSING;
        }
        let mut rng =
            Rng::new(BOOTSTRAP_SEED ^ pooled.len() as u64 ^ (groups.len() as u64 - 1) << 32);
        let mut pick = |n: usize| rng.below(n as u64) as usize;
        let mut medians = Vec::with_capacity(RESAMPLES);
        let mut resample = Vec::with_capacity(pooled.len() * 2);
        for _ in 0..RESAMPLES {
            resample.clear();
            for _ in 0..groups.len() {
                let group = &groups[pick(groups.len())];
                for _ in 0..group.len() {
                    resample.push(group[pick(group.len())]);
                }
            }
            resample.sort_by(f64::total_cmp);
            medians.push(median_sorted(&resample));
        }
        medians.sort_by(f64::total_cmp);
        let [lo, hi] = [0.025, 0.975].map(|q| quantile_sorted(&medians, q));
        Estimate::new(median(&pooled), lo, hi, pooled.len())
    }

    /// Every figure scaled by `k` (for units).
    pub(crate) fn scale(self, k: f64) -> Estimate {
        Estimate::new(self.median * k, self.lo * k, self.hi * k, self.n)
    }

    pub(crate) fn is_missing(&self) -> bool {
        self.median.is_nan()
    }

    /// `median [lo, hi]` with `d` decimals, `-` when missing.
    pub(crate) fn show(&self, d: usize) -> String {
        match self.is_missing() {
            true => "-".to_owned(),
            false => format!("{:.d$} [{:.d$}, {:.d$}]", self.median, self.lo, self.hi),
        }
    }
}

/// A verdict read from an interval against a threshold: the whole interval on the
/// right side, the whole on the wrong side, or straddling it (or nothing measured).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Right,
    Wrong,
    Inconclusive,
}

/// Where `estimate` lies against "at least `threshold`" (`higher_is_right`) or "at
/// most `threshold`": only a whole interval on one side decides.
pub(crate) fn side(estimate: &Estimate, threshold: f64, higher_is_right: bool) -> Side {
    let (lo, hi) = (estimate.lo, estimate.hi);
    let (right, wrong) = match higher_is_right {
        true => (lo >= threshold, hi < threshold),
        false => (hi <= threshold, lo > threshold),
    };
    match (right, wrong) {
        _ if estimate.is_missing() || lo.is_nan() || hi.is_nan() => Side::Inconclusive,
        (true, _) => Side::Right,
        (_, true) => Side::Wrong,
        _ => Side::Inconclusive,
    }
}

/// The block-to-block variation of a series of block times: the median of
/// `|b[i+1] - b[i]| / mean(b[i], b[i+1])` (NaN with fewer than two blocks).
pub(crate) fn block_variation(blocks: &[f64]) -> f64 {
    let steps: Vec<f64> = blocks
        .windows(2)
        .map(|w| ratio((w[1] - w[0]).abs(), (w[0] + w[1]) / 2.0))
        .filter(|v| v.is_finite())
        .collect();
    median(&steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_ratios() {
        assert!(median(&[]).is_nan());
        assert_eq!(median(&[3.0]), 3.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(ratio(1.0, 4.0), 0.25);
        assert!(ratio(1.0, 0.0).is_nan());
        assert!(ratio(f64::NAN, 2.0).is_nan());
    }

    #[test]
    fn intervals_contain_the_median_and_are_deterministic() {
        let samples: Vec<f64> = (0..101).map(|i| 1.0 + (i % 7) as f64 * 0.01).collect();
        let e = Estimate::of(&samples);
        assert!(e.lo <= e.median && e.median <= e.hi, "{e:?}");
        assert_eq!(e, Estimate::of(&samples));
        assert_eq!(e.n, 101);
        // A constant series has a zero-width interval.
        let c = Estimate::of(&[2.0; 20]);
        assert_eq!((c.lo, c.median, c.hi), (2.0, 2.0, 2.0));
        assert!(Estimate::of(&[]).is_missing());
    }

    #[test]
    fn grouped_intervals_cover_the_spread_between_groups() {
        // Six groups whose levels differ (as fresh processes may), little noise within.
        let groups: Vec<Vec<f64>> = [3.9, 4.0, 4.1, 4.0, 3.95, 4.15]
            .iter()
            .map(|&level| (0..50).map(|i| level + (i % 5) as f64 * 0.001).collect())
            .collect();
        let pooled: Vec<f64> = groups.iter().flatten().copied().collect();
        let narrow = Estimate::of(&pooled);
        let wide = Estimate::of_groups(&groups);
        assert_eq!(wide.median, narrow.median);
        assert_eq!(wide.n, 300);
        assert!(
            wide.hi - wide.lo > 2.0 * (narrow.hi - narrow.lo),
            "{wide:?} vs {narrow:?}"
        );
        assert!(wide.lo < 4.0 && wide.hi > 4.0, "{wide:?}");
        // Groups alike: about the pooled interval. One group: within-group only.
        let alike = vec![pooled[..50].to_vec(); 6];
        let e = Estimate::of_groups(&alike);
        assert!(e.hi - e.lo <= 0.01, "{e:?}");
        assert_eq!(
            Estimate::of_groups(&groups[..1]).median,
            Estimate::of(&groups[0]).median
        );
        assert!(Estimate::of_groups(&[]).is_missing());
        assert!(Estimate::of_groups(&[vec![], vec![f64::NAN]]).is_missing());
        assert_eq!(wide, Estimate::of_groups(&groups));
    }

    #[test]
    fn verdicts_need_the_whole_interval() {
        let e = |lo, median, hi| Estimate::new(median, lo, hi, 10);
        assert_eq!(side(&e(0.96, 0.97, 0.98), 0.95, true), Side::Right);
        assert_eq!(side(&e(0.90, 0.96, 0.99), 0.95, true), Side::Inconclusive);
        assert_eq!(side(&e(0.90, 0.92, 0.94), 0.95, true), Side::Wrong);
        assert_eq!(side(&e(0.5, 0.8, 0.9), 1.0, false), Side::Right);
        assert_eq!(side(&e(1.1, 1.2, 1.3), 1.0, false), Side::Wrong);
        assert_eq!(side(&Estimate::MISSING, 1.0, false), Side::Inconclusive);
    }

    #[test]
    fn variation_between_neighbouring_blocks() {
        assert_eq!(block_variation(&[1.0, 1.0, 1.0]), 0.0);
        let v = block_variation(&[1.0, 1.1, 1.0, 1.1]);
        assert!((v - 0.1 / 1.05).abs() < 1e-9);
        assert!(block_variation(&[1.0]).is_nan());
    }
}
