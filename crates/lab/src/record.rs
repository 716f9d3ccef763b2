//! The CSV files the lab writes, one serde struct per file, written and read back with
//! the `csv` crate. Reports and claims are computed from these typed rows: nothing is
//! found by column position or by comparing a cell's text with a column's name.

use std::fmt;
use std::path::Path;

use chunkstream::BoxError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::harness::stats::Estimate;

/// A number written with `D` decimals, `-` when missing (NaN).
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub(crate) struct Num<const D: usize>(pub(crate) f64);

impl<const D: usize> Default for Num<D> {
    fn default() -> Self {
        Num(f64::NAN)
    }
}

impl<const D: usize> fmt::Display for Num<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&fmt_num(self.0, D))
    }
}

impl<const D: usize> Serialize for Num<D> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de, const D: usize> Deserialize<'de> for Num<D> {
    fn deserialize<De: Deserializer<'de>>(d: De) -> Result<Self, De::Error> {
        let text = String::deserialize(d)?;
        Ok(Num(text.trim().parse().unwrap_or(f64::NAN)))
    }
}

/// A number with `decimals` places, or `-` when it is missing (NaN).
pub(crate) fn fmt_num(value: f64, decimals: usize) -> String {
    if value.is_nan() {
        "-".to_owned()
    } else {
        format!("{value:.decimals$}")
    }
}

/// A median with its 95% interval, as three columns of a row.
pub(crate) fn interval<const D: usize>(
    median: Num<D>,
    lo: Num<D>,
    hi: Num<D>,
    n: usize,
) -> Estimate {
    Estimate {
        median: median.0,
        lo: lo.0,
        hi: hi.0,
        n,
    }
}

/// The three columns of an estimate.
pub(crate) fn columns<const D: usize>(e: &Estimate) -> (Num<D>, Num<D>, Num<D>) {
    (Num(e.median), Num(e.lo), Num(e.hi))
}

/// CSV text of `rows` (the header alone when there are none).
pub(crate) fn to_csv<T: Serialize + Default>(rows: &[T]) -> Result<String, BoxError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    // The header is written with the first row: without rows, a default row's, cut off.
    let header_only = rows.is_empty().then(T::default);
    for row in rows.iter().chain(&header_only) {
        w.serialize(row)?;
    }
    let text = String::from_utf8(w.into_inner().map_err(|e| e.to_string())?)?;
    Ok(match header_only {
        Some(_) => text
            .lines()
            .next()
            .map(|h| format!("{h}\n"))
            .unwrap_or_default(),
        None => text,
    })
}

/// Writes `rows` to the CSV file `path`.
pub(crate) fn write<T: Serialize + Default>(path: &Path, rows: &[T]) -> Result<(), BoxError> {
    std::fs::write(path, to_csv(rows)?)?;
    Ok(())
}

/// Reads the CSV file `path`: `None` when it does not exist.
pub(crate) fn read<T: DeserializeOwned>(path: &Path) -> Result<Option<Vec<T>>, BoxError> {
    if !path.exists() {
        return Ok(None);
    }
    let mut r = csv::Reader::from_path(path)?;
    let rows: Result<Vec<T>, _> = r.deserialize().collect();
    Ok(Some(rows.map_err(|e| format!("{}: {e}", path.display()))?))
}

/// `check` of a measured row: `ok`, or why it failed.
pub(crate) fn check(result: &Result<(), String>) -> String {
    match result {
        Ok(()) => "ok".to_owned(),
        Err(e) => format!("FAILED: {e}"),
    }
}

/// The `limit` of the HTTP rows paired with axum-streams on the server with
/// `TCP_NODELAY` (each chunkstream HTTP row is measured there a second time).
pub(crate) const HTTP_PEER_LIMIT: &str = "axum-streams";
/// ... and on the server that leaves Nagle's algorithm on.
pub(crate) const HTTP_PEER_NAGLE_LIMIT: &str = "axum-streams, Nagle on";

/// A row of `compare.csv`: one contestant against its group's limit.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Compare {
    pub(crate) workload: String,
    pub(crate) source: String,
    pub(crate) format: String,
    pub(crate) path: String,
    pub(crate) contestant: String,
    pub(crate) pool: String,
    pub(crate) encoder: String,
    pub(crate) limit: String,
    pub(crate) items: u64,
    pub(crate) body_bytes: Num<0>,
    pub(crate) pairs: Num<0>,
    pub(crate) mb_per_s: Num<1>,
    pub(crate) items_per_s: Num<0>,
    pub(crate) ratio: Num<3>,
    pub(crate) ratio_lo: Num<3>,
    pub(crate) ratio_hi: Num<3>,
    pub(crate) limit_variation: Num<4>,
    pub(crate) allocs_per_request: Num<1>,
    pub(crate) alloc_bytes_per_request: Num<0>,
    pub(crate) chunks_per_request: Num<0>,
    pub(crate) first_chunk_us: Num<0>,
    pub(crate) hit_rate: Num<3>,
    pub(crate) check: String,
}

impl Compare {
    /// The ratio to the limit with its interval.
    pub(crate) fn ratio(&self) -> Estimate {
        let pairs = self.pairs.0 as usize;
        interval(self.ratio, self.ratio_lo, self.ratio_hi, pairs)
    }

    /// A chunkstream row on `path` (`stream`: the direct one), JSON array.
    pub(crate) fn is_chunkstream(
        &self,
        workload: &str,
        source: &str,
        path: &str,
        pool: &str,
        encoder: &str,
    ) -> bool {
        self.workload == workload
            && self.source == source
            && self.format == "json_array"
            && self.path == path
            && self.contestant == "chunkstream"
            && self.pool == pool
            && self.encoder == encoder
    }
}

/// A row of `tuning.csv` and `tuning_confirm.csv`: one configuration against the limit.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Tuning {
    pub(crate) workload: String,
    pub(crate) buffer_kib: usize,
    pub(crate) threshold_kib: usize,
    pub(crate) batch: usize,
    pub(crate) items: u64,
    pub(crate) body_bytes: u64,
    pub(crate) pairs: usize,
    pub(crate) ratio: Num<3>,
    pub(crate) ratio_lo: Num<3>,
    pub(crate) ratio_hi: Num<3>,
    pub(crate) limit_variation: Num<4>,
    pub(crate) mb_per_s: Num<1>,
    pub(crate) allocs_per_request: Num<1>,
    pub(crate) alloc_bytes_per_request: Num<0>,
    pub(crate) chunks_per_request: u64,
    pub(crate) first_chunk_us: Num<0>,
    pub(crate) check: String,
}

impl Tuning {
    /// The ratio to the limit with its interval.
    pub(crate) fn ratio(&self) -> Estimate {
        interval(self.ratio, self.ratio_lo, self.ratio_hi, self.pairs)
    }

    /// Buffer KiB, threshold KiB, batch.
    pub(crate) fn point(&self) -> (usize, usize, usize) {
        (self.buffer_kib, self.threshold_kib, self.batch)
    }
}

/// A row of `noise.csv` and `tuning_noise.csv`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Noise {
    pub(crate) measurement: String,
    pub(crate) variation: Num<4>,
    pub(crate) threshold: Num<2>,
    pub(crate) noisy: bool,
}

/// A row of `pool_ops.csv`: a pool's get + put against a reference, in ns per op.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct PoolOps {
    pub(crate) case: String,
    pub(crate) pool: String,
    pub(crate) reference: String,
    pub(crate) ns_per_op: Num<2>,
    pub(crate) ns_lo: Num<2>,
    pub(crate) ns_hi: Num<2>,
    pub(crate) reference_ns: Num<2>,
    pub(crate) reference_ns_lo: Num<2>,
    pub(crate) reference_ns_hi: Num<2>,
    pub(crate) ratio: Num<3>,
    pub(crate) ratio_lo: Num<3>,
    pub(crate) ratio_hi: Num<3>,
    pub(crate) pairs: usize,
    pub(crate) hit_rate: Num<3>,
    pub(crate) reference_variation: Num<4>,
    pub(crate) go_slices: String,
}

impl PoolOps {
    /// The pool's ns per op.
    pub(crate) fn ns(&self) -> Estimate {
        interval(self.ns_per_op, self.ns_lo, self.ns_hi, self.pairs)
    }

    /// The reference's ns per op.
    pub(crate) fn reference_ns(&self) -> Estimate {
        interval(
            self.reference_ns,
            self.reference_ns_lo,
            self.reference_ns_hi,
            self.pairs,
        )
    }

    /// The pool's time over the reference's.
    pub(crate) fn ratio(&self) -> Estimate {
        interval(self.ratio, self.ratio_lo, self.ratio_hi, self.pairs)
    }
}

/// A row of `alloc_steady.csv`: bytes and allocations per 100-ticket request.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Steady {
    pub(crate) contestant: String,
    pub(crate) pool: String,
    pub(crate) encoder: String,
    pub(crate) items: usize,
    pub(crate) json_bytes: usize,
    pub(crate) allocs_per_request: Num<2>,
    pub(crate) bytes_per_request: Num<1>,
    pub(crate) bytes_lo: Num<1>,
    pub(crate) bytes_hi: Num<1>,
    pub(crate) requests: u64,
}

impl Steady {
    /// Bytes per request with the interval over the passes.
    pub(crate) fn bytes(&self) -> Estimate {
        interval(self.bytes_per_request, self.bytes_lo, self.bytes_hi, 10)
    }
}

/// A row of `first_byte.csv`: the delay to the first byte from a slow source.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct FirstByte {
    pub(crate) path: String,
    pub(crate) flush_interval_ms: Num<1>,
    pub(crate) item_period_ms: Num<1>,
    pub(crate) delay_ms_median: Num<2>,
    pub(crate) delay_ms_lo: Num<2>,
    pub(crate) delay_ms_hi: Num<2>,
    pub(crate) delay_ms_max: Num<2>,
    pub(crate) requests: usize,
}

/// A row of `pool_mixed.csv`: a pool on large responses after tiny ones.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Mixed {
    pub(crate) pool: String,
    pub(crate) tiny_requests: u64,
    pub(crate) large_requests: u64,
    pub(crate) large_chunks: u64,
    pub(crate) hits: u64,
    pub(crate) misses: u64,
    pub(crate) hit_rate: Num<3>,
    pub(crate) dropped_oversize: u64,
    pub(crate) allocs_per_large_response: Num<1>,
}

/// The figures of `go.csv`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum GoFigure {
    /// Whether Go ran, and its version (`note`), or why not.
    #[default]
    Status,
    /// chunkstream's bulk MB/s over the Go streamer's on one core (`GOMAXPROCS=1`),
    /// paired: the headline, one core each.
    BulkRatio,
    /// chunkstream's bulk MB/s in the pairs.
    #[serde(rename = "bulk_chunkstream_mb_s")]
    BulkChunkstream,
    /// The Go streamer's bulk MB/s on one core in the pairs.
    #[serde(rename = "bulk_go_mb_s")]
    BulkGo,
    /// As `BulkRatio` against Go at its default `GOMAXPROCS` (every core).
    #[serde(rename = "bulk_ratio_go_all_cores")]
    BulkRatioAllCores,
    /// The Go streamer's bulk MB/s at its default `GOMAXPROCS`.
    #[serde(rename = "bulk_go_all_cores_mb_s")]
    BulkGoAllCores,
    /// The Go streamer's MB/s over Go's own limit (`json.Marshal` of the slice), paired.
    #[serde(rename = "go_vs_go_limit")]
    GoVsLimit,
    /// Go: bytes per 100-ticket request with its pool.
    RequestPooledBytes,
    /// Go: allocations per 100-ticket request with its pool.
    RequestPooledAllocs,
    /// Go: bytes per 100-ticket request without its pool.
    RequestUnpooledBytes,
    /// Go: allocations per 100-ticket request without its pool.
    RequestUnpooledAllocs,
}

impl GoFigure {
    /// The decimals the report shows it with.
    pub(crate) fn decimals(self) -> usize {
        use GoFigure::*;
        match self {
            BulkRatio | BulkRatioAllCores | GoVsLimit => 3,
            BulkChunkstream | BulkGo | BulkGoAllCores => 1,
            Status
            | RequestPooledBytes
            | RequestPooledAllocs
            | RequestUnpooledBytes
            | RequestUnpooledAllocs => 0,
        }
    }
}

/// A row of `go.csv`: one figure of the Go package measured here.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Go {
    pub(crate) figure: GoFigure,
    pub(crate) value: Num<3>,
    pub(crate) lo: Num<3>,
    pub(crate) hi: Num<3>,
    pub(crate) pairs: usize,
    pub(crate) note: String,
}

/// A row of `parallel.csv` and `database.csv`: a contestant paired with its reference.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Paired {
    pub(crate) section: String,
    pub(crate) contestant: String,
    pub(crate) reference: String,
    pub(crate) body_bytes: u64,
    pub(crate) pairs: usize,
    pub(crate) mb_per_s: Num<1>,
    pub(crate) reference_mb_per_s: Num<1>,
    pub(crate) ratio: Num<3>,
    pub(crate) ratio_lo: Num<3>,
    pub(crate) ratio_hi: Num<3>,
    pub(crate) target: Num<2>,
    pub(crate) verdict: String,
    pub(crate) reference_variation: Num<4>,
    pub(crate) peak_buffers: Num<0>,
    pub(crate) peak_buffer_bytes: Num<0>,
    pub(crate) buffer_bound: Num<0>,
    pub(crate) note: String,
}

impl Paired {
    /// The speed ratio with its interval.
    pub(crate) fn ratio(&self) -> Estimate {
        interval(self.ratio, self.ratio_lo, self.ratio_hi, self.pairs)
    }
}

/// A row of `soak.csv`: one sample of resident memory.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct SoakSample {
    pub(crate) seconds: Num<2>,
    pub(crate) bytes_streamed: u64,
    pub(crate) chunks: u64,
    pub(crate) rss_kib: u64,
}

/// The row of `soak_summary.csv`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Soak {
    pub(crate) items: u64,
    pub(crate) bytes: u64,
    pub(crate) chunks: u64,
    pub(crate) seconds: Num<1>,
    pub(crate) mb_per_s: Num<1>,
    pub(crate) baseline_mib: Num<1>,
    pub(crate) peak_sampled_mib: Num<1>,
    pub(crate) vm_hwm_mib: Num<1>,
    pub(crate) peak_above_baseline_mib: Num<1>,
    pub(crate) pool_hits: u64,
    pub(crate) pool_misses: u64,
    pub(crate) pooled_buffers: u64,
}

/// A row of `concurrency.csv`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Concurrency {
    pub(crate) pool: String,
    pub(crate) concurrent: usize,
    pub(crate) requests: u64,
    pub(crate) mb_per_s: Num<1>,
    pub(crate) hit_rate: Num<3>,
    pub(crate) rounds: usize,
}

/// A row of `alloc.csv`: one strategy's allocations, counted in a child process.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Alloc {
    pub(crate) pool: String,
    pub(crate) tool: String,
    pub(crate) items: usize,
    pub(crate) requests: u64,
    pub(crate) blocks_per_request: Num<2>,
    pub(crate) bytes_per_request: Num<1>,
    pub(crate) max_live_bytes: Num<0>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_with_missing_numbers_as_dashes() {
        let rows = vec![
            Noise {
                measurement: "a, b".into(),
                variation: Num(0.01234),
                threshold: Num(0.05),
                noisy: false,
            },
            Noise::default(),
        ];
        let text = to_csv(&rows).unwrap();
        assert!(
            text.starts_with("measurement,variation,threshold,noisy\n\"a, b\",0.0123,0.05,false\n"),
            "{text}"
        );
        assert!(text.contains(",-,-,false"), "{text}");
        let mut r = csv::Reader::from_reader(text.as_bytes());
        let back: Vec<Noise> = r.deserialize().map(Result::unwrap).collect();
        assert_eq!(back[0].measurement, "a, b");
        assert_eq!(back[0].variation, Num(0.0123));
        assert!(back[1].variation.0.is_nan());
        assert_eq!(
            to_csv::<Noise>(&[]).unwrap(),
            "measurement,variation,threshold,noisy\n"
        );
    }

    #[test]
    fn formats_missing_numbers() {
        assert_eq!(fmt_num(f64::NAN, 2), "-");
        assert_eq!(fmt_num(0.95123, 2), "0.95");
    }
}
