//! Paired blocks: a contestant and its reference (the limit of its group, the fresh
//! allocation a pool replaces, or the Go package) are timed alternately in short blocks,
//! reference first and last (R C R C ... C R), so both see the same noise. Each
//! contestant block gives one ratio, against the mean of the two reference blocks
//! around it; the report gives the median ratio with a bootstrap 95% interval.
//!
//! Each pair (a contestant block and the reference block after it) runs with the stack
//! at another depth ([`STACK_STEPS`] depths in turn). Where the stack lies relative to
//! the heap buffers moves a ratio by a few percent on these machines (the stack's start
//! is random per process; a probe of the envelope over its limit gave 0.920 to 0.976 in
//! six processes, 0.963 to 0.968 with address randomization off, 0.939 to 0.988 as the
//! environment's size moved the stack). Without rotation a run measured one layout and
//! its verdict did not survive a rerun; rotating, a run's median is over layouts (the
//! same probe: 0.964 to 0.973 in six processes).

use std::time::{Duration, Instant};

use chunkstream::BoxError;

use crate::harness::stats::{Estimate, block_variation};

/// A timed block: runs `reps` units and returns the seconds per unit.
pub(crate) type Block<'a> = dyn FnMut(u64) -> Result<f64, BoxError> + 'a;

/// How long to alternate: blocks of about `block` each, pairs for about `budget`, but
/// at least `min_pairs` and at most `max_pairs`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Schedule {
    pub(crate) block: Duration,
    pub(crate) budget: Duration,
    pub(crate) min_pairs: usize,
    pub(crate) max_pairs: usize,
}

/// The block times of one alternation, seconds per unit: one more reference block than
/// contestant blocks (first and last), with the units per block of each side.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Series {
    pub(crate) reference: Vec<f64>,
    pub(crate) contestant: Vec<f64>,
    pub(crate) reference_reps: u64,
    pub(crate) contestant_reps: u64,
}

impl Series {
    /// Per pair, `f` of the reference's time around the contestant block (the mean of
    /// its neighbours) and the contestant's.
    fn per_pair(&self, f: fn(f64, f64) -> f64) -> Vec<f64> {
        let around = self.reference.windows(2).map(|w| (w[0] + w[1]) / 2.0);
        around
            .zip(&self.contestant)
            .map(|(r, &c)| f(r, c))
            .collect()
    }

    /// Per pair: the contestant's speed over the reference's (> 1: faster).
    pub(crate) fn speed_ratios(&self) -> Vec<f64> {
        self.per_pair(|r, c| r / c)
    }

    /// Per pair: the contestant's time per unit over the reference's (> 1: costlier).
    pub(crate) fn cost_ratios(&self) -> Vec<f64> {
        self.per_pair(|r, c| c / r)
    }

    /// The contestant's speed relative to the reference, with its interval.
    pub(crate) fn speed(&self) -> Estimate {
        Estimate::of(&self.speed_ratios())
    }

    /// The contestant's seconds per unit, with its interval.
    pub(crate) fn contestant_time(&self) -> Estimate {
        Estimate::of(&self.contestant)
    }

    /// The reference's seconds per unit, with its interval.
    pub(crate) fn reference_time(&self) -> Estimate {
        Estimate::of(&self.reference)
    }

    /// The reference's block-to-block variation (the noise gate's input).
    pub(crate) fn reference_variation(&self) -> f64 {
        block_variation(&self.reference)
    }

    pub(crate) fn pairs(&self) -> usize {
        self.contestant.len()
    }
}

/// The median and interval of `f` over slices of alternations (several short
/// alternations of one comparison, spread over a run): each bootstrap resample draws
/// slices, then values within them (see [`Estimate::of_groups`]).
pub(crate) fn over_slices(slices: &[Series], f: impl Fn(&Series) -> Vec<f64>) -> Estimate {
    Estimate::of_groups(&slices.iter().map(f).collect::<Vec<_>>())
}

/// Units per block so that one block lasts about `target`: grows from one unit until a
/// block is long enough (one unit when a single one is already longer).
pub(crate) fn calibrate(block: &mut Block<'_>, target: Duration) -> Result<u64, BoxError> {
    let target = target.as_secs_f64();
    let mut reps = 1u64;
    loop {
        let per_unit = block(reps)?;
        let took = per_unit * reps as f64;
        if took >= target || reps >= 1 << 24 {
            // Scale to the target from the last, longest measurement.
            let scaled = (target / per_unit.max(1e-12)).round() as u64;
            return Ok(scaled.clamp(1, 1 << 24));
        }
        reps *= if took < target / 16.0 { 8 } else { 2 };
    }
}

/// Calibrates both sides and alternates them as `schedule` says.
pub(crate) fn alternate(
    reference: &mut Block<'_>,
    contestant: &mut Block<'_>,
    schedule: &Schedule,
) -> Result<Series, BoxError> {
    let reference_reps = calibrate(reference, schedule.block)?;
    let contestant_reps = calibrate(contestant, schedule.block)?;
    let reps = (reference_reps, contestant_reps);
    alternate_with(reference, reps.0, contestant, reps.1, schedule)
}

/// Stack depths a run's pairs rotate through: about 80 bytes each (the frame of
/// [`at_depth`]), so together they span a 4 KiB page in steps of one or two cache lines.
const STACK_STEPS: usize = 64;

/// Runs `block(reps)` with the stack `steps` frames deeper than here.
#[inline(never)]
fn at_depth(steps: usize, block: &mut Block<'_>, reps: u64) -> Result<f64, BoxError> {
    // The frame's size: 48 bytes of padding, kept by reading it after the call (which
    // also rules out a tail call that would reuse the frame).
    let pad = [0u8; 48];
    std::hint::black_box(&pad);
    let out = match steps {
        0 => block(reps),
        _ => at_depth(steps - 1, block, reps),
    };
    std::hint::black_box(&pad);
    out
}

/// Alternates with given block sizes: R C R C ... C R, as many pairs as fit the budget
/// within the schedule's bounds; each pair (C R) at its own stack depth, every one of
/// the [`STACK_STEPS`] in turn in an order that does not climb steadily (37 is prime to
/// 64).
pub(crate) fn alternate_with(
    reference: &mut Block<'_>,
    reference_reps: u64,
    contestant: &mut Block<'_>,
    contestant_reps: u64,
    schedule: &Schedule,
) -> Result<Series, BoxError> {
    let mut series = Series {
        reference: vec![reference(reference_reps)?],
        contestant: Vec::new(),
        reference_reps,
        contestant_reps,
    };
    let start = Instant::now();
    let min = schedule.min_pairs.max(1);
    loop {
        let depth = series.pairs() * 37 % STACK_STEPS;
        let c = at_depth(depth, contestant, contestant_reps)?;
        series.contestant.push(c);
        let r = at_depth(depth, reference, reference_reps)?;
        series.reference.push(r);
        let done = series.pairs();
        if done >= schedule.max_pairs.max(min) || done >= min && start.elapsed() >= schedule.budget
        {
            return Ok(series);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(pairs: usize) -> Schedule {
        Schedule {
            max_pairs: pairs,
            ..crate::harness::matrix::schedule(Duration::ZERO, 0.0, pairs)
        }
    }

    #[test]
    fn ratios_use_the_reference_blocks_around_each_contestant_block() {
        let s = Series {
            reference: vec![1.0, 3.0, 1.0],
            contestant: vec![4.0, 1.0],
            ..Series::default()
        };
        assert_eq!(
            (s.speed_ratios(), s.cost_ratios()),
            (vec![0.5, 2.0], vec![2.0, 0.5])
        );
        assert_eq!(s.pairs(), 2);
    }

    #[test]
    fn alternation_starts_and_ends_with_the_reference() {
        let order = std::cell::RefCell::new(String::new());
        let step = |side, secs| {
            order.borrow_mut().push(side);
            Ok(secs)
        };
        let (mut r, mut c) = (|_| step('R', 1.0), |_| step('C', 2.0));
        let s = alternate_with(&mut r, 1, &mut c, 1, &schedule(3)).unwrap();
        assert_eq!(*order.borrow(), "RCRCRCR");
        assert_eq!((s.speed().median, s.reference_variation()), (0.5, 0.0));
    }

    #[test]
    fn pairs_run_at_every_stack_depth_in_turn() {
        // Where a local of the block lies, per pair.
        let spot = |_reps: u64| {
            let local = 0u8;
            Ok(std::ptr::from_ref(std::hint::black_box(&local)).addr() as f64)
        };
        let (mut r, mut c) = (spot, spot);
        let s = alternate_with(&mut r, 1, &mut c, 1, &schedule(STACK_STEPS)).unwrap();
        // A contestant block and the reference block after it share their depth.
        assert_eq!(s.contestant, s.reference[1..]);
        // Every pair is at another depth, and they spread over a page.
        let mut at: Vec<u64> = s.contestant.iter().map(|&a| a as u64).collect();
        let span = at.iter().max().unwrap() - at.iter().min().unwrap();
        at.sort_unstable();
        at.dedup();
        assert_eq!(at.len(), STACK_STEPS);
        assert!(span >= 2048, "the depths span {span} bytes");
    }

    #[test]
    fn calibration_reaches_the_target() {
        // A unit of 1 µs: a 1 ms block needs about 1000 units; a unit longer than the
        // target: one unit per block.
        let ms = Duration::from_millis(1);
        assert_eq!(calibrate(&mut |_| Ok(1e-6), ms).unwrap(), 1000);
        assert_eq!(calibrate(&mut |_| Ok(0.01), ms).unwrap(), 1);
    }
}
