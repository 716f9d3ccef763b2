//! Sampling the lab's scenarios with pprof for the flamegraphs in `flamegraphs/`
//! (`profile`, `database`, `parallel --profile`), and the shares of the samples in words.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use chunkstream::BoxError;

use crate::frames::{self, FrameTest};

/// Samples per second.
const HZ: i32 = 999;

/// Back-to-back requests under the profiler: the bytes they returned together, the
/// seconds of wall time, and of CPU time of the whole process when the platform tells.
pub(crate) struct Sampled {
    pub(crate) report: pprof::Report,
    pub(crate) requests: u64,
    pub(crate) bytes: u64,
    pub(crate) wall: f64,
    pub(crate) cpu: Option<f64>,
}

/// Repeats `request` (which returns its bytes) for `seconds` under a profiler sampling
/// every thread of the process at [`HZ`], and writes the flamegraph to `path`.
pub(crate) fn sample(
    seconds: f64,
    path: &Path,
    mut request: impl FnMut() -> Result<u64, BoxError>,
) -> Result<Sampled, BoxError> {
    // Not in the C library or the kernel's vDSO: their frames do not unwind reliably.
    let guard = pprof::ProfilerGuardBuilder::default()
        .frequency(HZ)
        .blocklist(&["libc", "libgcc", "pthread", "vdso"])
        .build()?;
    let (cpu_start, start) = (process_cpu(), Instant::now());
    let (mut requests, mut bytes) = (0u64, 0u64);
    while start.elapsed() < Duration::from_secs_f64(seconds) {
        bytes += request()?;
        requests += 1;
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu = process_cpu().zip(cpu_start).map(|(end, start)| end - start);
    let report = guard.report().build()?;
    std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))?;
    report.flamegraph(std::fs::File::create(path)?)?;
    Ok(Sampled {
        report,
        requests,
        bytes,
        wall,
        cpu,
    })
}

/// CPU time (user and system) of every thread of this process so far, in seconds, from
/// `/proc/self/stat` (Linux; clock ticks of 1/100 s). `None` elsewhere.
fn process_cpu() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start with the state (3rd).
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
    Some((ticks(11)? + ticks(12)?) / 100.0)
}

/// A profile's samples in all, and counted three ways: per thread as the caller names
/// it, per kind of innermost recognised frame ([`frames::named`]), and per innermost
/// frame by its [`short`] name (its "self" time).
pub(crate) struct Tally {
    pub(crate) total: isize,
    pub(crate) threads: Vec<(String, isize)>,
    pub(crate) kinds: Vec<(String, isize)>,
    pub(crate) tops: Vec<(String, isize)>,
}

/// Counts `report`'s samples per thread (`thread` names it from the thread's name and
/// the sample's frames, innermost first), per kind in `kinds` and per innermost frame.
pub(crate) fn tally(
    report: &pprof::Report,
    kinds: &[(&str, FrameTest)],
    thread: impl Fn(&str, &[String]) -> String,
) -> Tally {
    let mut total = 0;
    let mut threads: HashMap<String, isize> = HashMap::new();
    let mut tops: HashMap<String, isize> = HashMap::new();
    let mut by_kind = vec![0isize; kinds.len() + 1];
    for (sample, &count) in &report.data {
        total += count;
        let names: Vec<String> = sample.frames.iter().flatten().map(|s| s.name()).collect();
        let name = thread(&sample.thread_name, &names);
        *threads.entry(name).or_default() += count;
        by_kind[frames::kind_of(kinds, &names)] += count;
        if let Some(top) = names.first() {
            *tops.entry(short(top)).or_default() += count;
        }
    }
    Tally {
        total,
        threads: threads.into_iter().collect(),
        kinds: frames::named(kinds, by_kind),
        tops: tops.into_iter().collect(),
    }
}

/// A frame's name without its hash and generic arguments, short enough for a summary.
fn short(name: &str) -> String {
    let name = name.split("::h").next().unwrap_or(name);
    let mut out = String::new();
    let mut depth = 0usize;
    for c in name.chars() {
        match c {
            '<' => depth += 1,
            '>' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    format!("`{out}`")
}

/// `name 55%, other 12%`: the `take` largest non-zero counts, largest first, each as a
/// share of `total`.
pub(crate) fn shares(mut counts: Vec<(String, isize)>, total: isize, take: usize) -> String {
    counts.sort_by_key(|c| std::cmp::Reverse(c.1));
    counts
        .iter()
        .filter(|(_, n)| *n > 0)
        .take(take)
        .map(|(name, n)| format!("{name} {:.0}%", 100.0 * *n as f64 / total.max(1) as f64))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_the_largest_first_without_the_empty_ones() {
        let counts = vec![("a".into(), 1), ("b".into(), 0), ("c".into(), 3)];
        assert_eq!(shares(counts.clone(), 4, 5), "c 75%, a 25%");
        assert_eq!(shares(counts, 4, 1), "c 75%");
    }

    #[test]
    fn the_process_cpu_time_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(process_cpu().is_some_and(|s| s >= 0.0));
        }
    }
}
