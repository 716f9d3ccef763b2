//! Go at its best: the slices of a comparison with Go where Go ran within a band of its
//! fastest slice ([`FAST_BAND`] for its pool, [`BULK_FAST_BAND`] for its bulk stream).
//!
//! Go's speed on these machines moves with the host's slow stretches far more than
//! chunkstream's (its `sync.Pool` between about 13 and 18 ns per get + put, its bulk
//! stream between about 290 and 150-190 MB/s, in and out of ASLR alike), so a run's ratio
//! over every slice follows how much of it fell in those stretches. Kept at its best, Go
//! is the stricter reference and the same one from run to run.

use crate::harness::paired::Series;
use crate::harness::stats::median;

/// How far above its fastest slice a slice of Go's pool may be and still count as Go at
/// its best. Go's two states differ by about 40%, the noise within one by a few per cent.
pub(crate) const FAST_BAND: f64 = 0.10;

/// As [`FAST_BAND`] for Go's bulk stream. Its fast state spreads more between processes
/// (medians of 266-307 MB/s over sixteen fresh processes by hand on the AMD EPYC), so
/// within 10% of the fastest kept 5 and 14 of 30 slices in two runs; the slow stretches
/// (150-195 MB/s) stay out of 15%.
pub(crate) const BULK_FAST_BAND: f64 = 0.15;

/// Go's time in a slice: its median there.
pub(crate) type GoTime = fn(&Series) -> f64;

/// Go's time in a slice where Go is the reference side.
pub(crate) fn go_as_reference(slice: &Series) -> f64 {
    median(&slice.reference)
}

/// The slices whose Go time is within `band` (a fraction) of the fastest.
pub(crate) fn fast_band(slices: &[Series], go_time: GoTime, band: f64) -> Vec<Series> {
    let fastest = slices
        .iter()
        .map(go_time)
        .filter(|t| t.is_finite())
        .fold(f64::INFINITY, f64::min);
    within_band(slices, go_time, fastest, band)
}

/// The slices whose Go time is within `band` (a fraction) of `fastest`.
pub(crate) fn within_band(
    slices: &[Series],
    go_time: GoTime,
    fastest: f64,
    band: f64,
) -> Vec<Series> {
    let fast = |s: &&Series| go_time(s) <= fastest * (1.0 + band);
    slices.iter().filter(fast).cloned().collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A slice with Go at `go_ns` in every block (chunkstream at 15).
    pub(crate) fn slice(go_ns: f64) -> Series {
        Series {
            reference: vec![go_ns; 3],
            contestant: vec![15.0; 2],
            reference_reps: 1,
            contestant_reps: 1,
        }
    }

    #[test]
    fn go_at_its_best_keeps_the_slices_near_the_fastest() {
        let slices = [13.0, 18.6, 13.4, 18.1, 14.2, 14.4].map(slice).to_vec();
        let kept: Vec<f64> = fast_band(&slices, go_as_reference, FAST_BAND)
            .iter()
            .map(|s| s.reference[0])
            .collect();
        // 13.0 * 1.1 = 14.3: the 18 ns state and the slice just above the band go.
        assert_eq!(kept, vec![13.0, 13.4, 14.2]);
    }

    #[test]
    fn slices_of_go_in_one_state_are_all_kept() {
        let slices = [13.2, 13.3, 13.1].map(slice).to_vec();
        assert_eq!(fast_band(&slices, go_as_reference, FAST_BAND).len(), 3);
    }
}
