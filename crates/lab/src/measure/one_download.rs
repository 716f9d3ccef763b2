//! `compare`'s one-download rows over the fresh processes that measured them: each
//! process's rows at its limit's speed, combined over the processes (`compare` runs the
//! processes, see `cmd::compare::one_download`).

use crate::harness::stats::{Estimate, median};
use crate::record::{self, Contestant, Num};

/// Fresh processes the one-download rows are measured in. The same binary's download
/// speed moves by 10-20% from one process to the next, so the spread between processes
/// sets the interval: measured in one process a row's verdict differed between two runs
/// of one binary, and twelve short processes sampled it better than six long ones.
/// Twenty-four since twelve left the direct path's interval reaching below 0.9x in one
/// of two consecutive runs on the AMD EPYC (1.046 [0.999, 1.058]x, then 1.031 [0.895,
/// 1.049]x); with twenty-four the next two read 1.044 [0.941, 1.056]x and 1.056 [1.042,
/// 1.065]x. Thirty since, in three bursts ([`bursts`]). A process costs about 1 s of a
/// default run.
pub(crate) const PROCESSES: usize = 30;

/// Bursts the processes run in, spread over the run (before the matrix, after it, after
/// the tickets service): the host moves between faster and slower states over minutes,
/// and in two halves (before and after the matrix) the direct and parallel rows of one
/// run on the AMD EPYC read 0.92x, lower ends 0.86-0.87x, where the six runs before read
/// 0.97-1.06x; a third burst samples one more of those states.
pub(crate) const BURSTS: usize = 3;

/// `processes` split into [`BURSTS`] bursts as evenly as they go, the larger first.
pub(crate) fn bursts(processes: usize) -> Vec<usize> {
    (0..BURSTS)
        .map(|i| processes / BURSTS + usize::from(i < processes % BURSTS))
        .collect()
}

/// How far below its own row's speed the serde_json limit may run in a one-download
/// row's blocks for the row to count. The limit alternates with the downloads and at
/// times ran about 30% slower among them (2 rows of 16 in one test on an AMD EPYC),
/// which inflates that row's ratio as much; like Go's slow slices (`pool_ops`), such a
/// row is left out.
pub(crate) const REFERENCE_BAND: f64 = 0.10;

/// [`over_processes`] of the rows each process ran at its limit's speed
/// ([`at_reference_speed`]), and how many rows were left out; a row that no process
/// kept is combined from all of them, so that no row of the report goes missing.
pub(crate) fn combine(runs: &[Vec<record::Compare>]) -> (Vec<record::Compare>, usize) {
    let all: Vec<Vec<_>> = runs
        .iter()
        .map(|run| downloads(run).cloned().collect())
        .collect();
    let kept: Vec<_> = runs.iter().map(|run| at_reference_speed(run)).collect();
    let count = |runs: &[Vec<record::Compare>]| runs.iter().map(Vec::len).sum::<usize>();
    let left_out = count(&all) - count(&kept);
    let kept = over_processes(&kept);
    let rows = over_processes(&all)
        .into_iter()
        .map(|row| {
            let kept = kept.iter().find(|r| same_row(r, &row));
            kept.cloned().unwrap_or(row)
        })
        .collect();
    (rows, left_out)
}

/// A process's download rows: all but its limit row.
fn downloads(rows: &[record::Compare]) -> impl Iterator<Item = &record::Compare> {
    rows.iter().filter(|r| r.contestant != Contestant::Limit)
}

/// A process's download rows without a row whose limit (its MB/s over its ratio) ran
/// more than [`REFERENCE_BAND`] below the limit row's MB/s. A failed row is kept, so
/// that its check is seen.
fn at_reference_speed(rows: &[record::Compare]) -> Vec<record::Compare> {
    let own = rows
        .iter()
        .find(|r| r.contestant == Contestant::Limit)
        .map(|r| r.mb_per_s.0);
    let at_speed = |r: &record::Compare| {
        own.is_none_or(|own| r.mb_per_s.0 / r.ratio.0 >= own * (1.0 - REFERENCE_BAND))
    };
    downloads(rows)
        .filter(|r| !r.is_ok() || at_speed(r))
        .cloned()
        .collect()
}

/// Whether two processes' rows are the same contestant: matched by what they are
/// (source, path, encoder, limit), not by place.
fn same_row(a: &record::Compare, b: &record::Compare) -> bool {
    (a.source, a.path, a.encoder, a.limit) == (b.source, b.path, b.encoder, b.limit)
}

/// One row per contestant from the rows several processes measured (matched by source,
/// path, encoder and limit): the median of their ratios with a bootstrap interval over
/// the processes; the median MB/s and limit noise; the pairs summed; a failed check if
/// any process failed it; the rest as the first process that kept it measured it (a
/// process may have left a row out, [`at_reference_speed`]). One process's rows
/// (`--quick`) are returned as they are, with their own intervals.
fn over_processes(runs: &[Vec<record::Compare>]) -> Vec<record::Compare> {
    if let [only] = runs {
        return only.clone();
    }
    // Every row some process kept, in the order the processes first have it.
    let mut first: Vec<&record::Compare> = Vec::new();
    for row in runs.iter().flatten() {
        if !first.iter().any(|r| same_row(r, row)) {
            first.push(row);
        }
    }
    let combined = |row: &&record::Compare| {
        let rows: Vec<&record::Compare> = runs
            .iter()
            .filter_map(|run| run.iter().find(|r| same_row(r, row)))
            .collect();
        let each = |f: fn(&record::Compare) -> f64| rows.iter().map(|r| f(r)).collect::<Vec<_>>();
        let (ratio, ratio_lo, ratio_hi) = record::columns(&Estimate::of(&each(|r| r.ratio.0)));
        let failed = rows.iter().find(|r| !r.is_ok());
        record::Compare {
            pairs: Num(each(|r| r.pairs.0).iter().sum()),
            mb_per_s: Num(median(&each(|r| r.mb_per_s.0))),
            items_per_s: Num(median(&each(|r| r.items_per_s.0))),
            ratio,
            ratio_lo,
            ratio_hi,
            limit_variation: Num(median(&each(|r| r.limit_variation.0))),
            check: failed.map_or(&row.check, |r| &r.check).clone(),
            ..(*row).clone()
        }
    };
    first.iter().map(combined).collect()
}

#[cfg(test)]
mod tests {
    use chunkstream_benches::contestants::{DEFAULT_ENCODER, DEFAULT_FEATURES_ENCODER};
    use chunkstream_benches::scenario::Path;
    use chunkstream_benches::workload::Workload;

    use super::*;
    use crate::record::{Limit, Source};

    /// A one-download row of one process: `path`, its ratio and its MB/s.
    fn download(path: Path, ratio: f64, mb_per_s: f64) -> record::Compare {
        record::Compare {
            workload: Workload::Tickets.name().to_owned(),
            source: Source::Http,
            path: Some(path),
            encoder: Some(DEFAULT_FEATURES_ENCODER),
            limit: Limit::Encoder(DEFAULT_ENCODER),
            pairs: Num(40.0),
            ratio: Num(ratio),
            ratio_lo: Num(ratio - 0.01),
            ratio_hi: Num(ratio + 0.01),
            mb_per_s: Num(mb_per_s),
            check: record::check(&Ok(())),
            ..record::Compare::default()
        }
    }

    /// Over processes, a row's interval spans the processes' spread (each process's own
    /// interval is narrow), its MB/s is their median, its pairs their sum, and a check
    /// one process failed is the row's; rows are matched by what they are, not place.
    #[test]
    fn one_download_rows_combine_over_processes() {
        let runs = vec![
            vec![
                download(Path::Item, 0.86, 1300.0),
                download(Path::Parallel, 1.1, 1800.0),
            ],
            vec![
                download(Path::Parallel, 0.99, 1600.0),
                download(Path::Item, 1.0, 1500.0),
            ],
            vec![download(Path::Item, 0.92, 1400.0), {
                let mut failed = download(Path::Parallel, 0.84, 1200.0);
                failed.check = "FAILED: timed out".to_owned();
                failed
            }],
        ];
        let rows = over_processes(&runs);
        assert_eq!(rows.len(), 2);
        let stream = &rows[0];
        assert_eq!(stream.path, Some(Path::Item));
        assert_eq!(stream.ratio, Num(0.92));
        assert!(
            stream.ratio_lo.0 <= 0.86 + 1e-9 && stream.ratio_hi.0 >= 1.0 - 1e-9,
            "{stream:?}"
        );
        assert_eq!((stream.mb_per_s, stream.pairs), (Num(1400.0), Num(120.0)));
        assert!(stream.is_ok());
        assert_eq!(rows[1].check, "FAILED: timed out");
        assert!(over_processes(&[]).is_empty());
        let one = over_processes(&runs[..1]);
        assert_eq!(one.len(), 2);
        assert_eq!((one[0].ratio_lo, one[0].ratio_hi), (Num(0.85), Num(0.87)));
    }

    #[test]
    fn processes_split_into_bursts_as_evenly_as_they_go() {
        assert_eq!(bursts(PROCESSES), [10, 10, 10]);
        assert_eq!(bursts(1), [1, 0, 0]);
        assert_eq!(bursts(8), [3, 3, 2]);
        assert_eq!(bursts(0), [0, 0, 0]);
    }

    /// A row whose limit ran more than 10% below the limit's own row leaves its process
    /// (its ratio was inflated), as does the limit row; a failed row stays. A row that
    /// the first process left out is still combined from the others.
    #[test]
    fn a_row_whose_limit_slowed_is_left_out() {
        let process = |item_ratio: f64| {
            let limit = record::Compare {
                contestant: Contestant::Limit,
                ..download(Path::Item, 1.0, 1000.0)
            };
            let mut failed = download(Path::Parallel, f64::NAN, 0.0);
            failed.check = "FAILED: reset".to_owned();
            // 850 MB/s: the limit ran at 850 / ratio MB/s during this row.
            vec![limit, download(Path::Item, item_ratio, 850.0), failed]
        };
        // 850 / 0.85 = 1000 MB/s: kept; 850 / 0.9 = 944: kept (within 10%);
        // 850 / 1.2 = 708: left out.
        for (ratio, kept) in [(0.85, true), (0.9, true), (1.2, false)] {
            let rows = at_reference_speed(&process(ratio));
            let paths: Vec<_> = rows.iter().map(|r| r.path).collect();
            let expected = match kept {
                true => vec![Some(Path::Item), Some(Path::Parallel)],
                false => vec![Some(Path::Parallel)],
            };
            assert_eq!(paths, expected, "ratio {ratio}");
        }
        let runs: Vec<_> = [1.2, 0.85, 0.9].map(process).into();
        let (rows, left_out) = combine(&runs);
        assert_eq!((rows.len(), left_out), (2, 1));
        let item = rows.iter().find(|r| r.path == Some(Path::Item));
        assert_eq!(
            item.map(|r| (r.pairs, r.ratio)),
            Some((Num(80.0), Num(0.875)))
        );
        assert!(rows.iter().any(|r| r.check == "FAILED: reset"));
        // No process kept the row (and --quick's one process): all of them count.
        for runs in [vec![process(1.2), process(1.3)], vec![process(1.2)]] {
            let (rows, left_out) = combine(&runs);
            assert_eq!((rows.len(), left_out), (2, runs.len()));
            let item = rows.iter().find(|r| r.path == Some(Path::Item));
            assert!(item.is_some_and(|r| r.ratio.0 >= 1.2), "{item:?}");
        }
    }
}
