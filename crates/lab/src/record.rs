//! The CSV files the lab writes, one serde struct per file, written and read back with
//! the `csv` crate. Reports and claims are computed from these typed rows: nothing is
//! found by column position or by comparing a cell's text (categorical columns are
//! enums, see [`Category`]).

use std::fmt;
use std::path::Path as FsPath;

use chunkstream::BoxError;
use chunkstream_benches::contestants::{DEFAULT_ENCODER, ENCODERS, EncoderKind, POOLS, PoolKind};
use chunkstream_benches::peers::{self, FORMAT_PEERS, PEERS, PeerKind};
use chunkstream_benches::scenario::{Framing, Path};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::harness::stats::Estimate;
use crate::measure::pool_ops::{Buffers, Shape};

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

/// A closed set of values a column holds, each written as its name. Rows are matched by
/// value, so a renamed category is a compile error rather than a row silently missed,
/// and a name no value has is an error where the file is read.
pub(crate) trait Category: Copy + PartialEq + 'static {
    /// Every value (to read a name back).
    fn values() -> impl Iterator<Item = Self>;
    /// Its text in the CSVs and the reports.
    fn name(self) -> &'static str;
}

/// The text of a categorical cell: a [`Category`]'s name, or `-` for `None` (the column
/// does not apply to the row: a peer's pool).
pub(crate) trait Cell: Sized {
    fn text(&self) -> &'static str;
    fn parse(text: &str) -> Option<Self>;
}

impl<T: Category> Cell for T {
    fn text(&self) -> &'static str {
        self.name()
    }
    fn parse(text: &str) -> Option<Self> {
        T::values().find(|v| v.name() == text)
    }
}

impl<T: Category> Cell for Option<T> {
    fn text(&self) -> &'static str {
        self.map_or("-", T::name)
    }
    fn parse(text: &str) -> Option<Self> {
        match text {
            "-" => Some(None),
            _ => T::parse(text).map(Some),
        }
    }
}

/// Serde of a [`Cell`] as its text: `#[serde(with = "cell")]` on a categorical column.
pub(crate) mod cell {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Cell;

    pub(crate) fn serialize<T: Cell, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(value.text())
    }

    pub(crate) fn deserialize<'de, T: Cell, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
        let text = String::deserialize(d)?;
        T::parse(&text).ok_or_else(|| D::Error::custom(format!("no category is named {text:?}")))
    }
}

impl Category for PoolKind {
    fn values() -> impl Iterator<Item = Self> {
        POOLS.iter().copied()
    }
    fn name(self) -> &'static str {
        PoolKind::name(self)
    }
}

impl Category for EncoderKind {
    fn values() -> impl Iterator<Item = Self> {
        ENCODERS.iter().copied()
    }
    fn name(self) -> &'static str {
        EncoderKind::name(self)
    }
}

impl Category for Framing {
    fn values() -> impl Iterator<Item = Self> {
        use Framing::*;
        [Array, Ndjson, Csv, Envelope, Sse].into_iter()
    }
    fn name(self) -> &'static str {
        Framing::name(self)
    }
}

impl Category for Path {
    fn values() -> impl Iterator<Item = Self> {
        [Path::Item, Path::Batch, Path::Spawn, Path::Parallel].into_iter()
    }
    /// The name of the streamer method.
    fn name(self) -> &'static str {
        match self {
            Path::Item => "stream",
            Path::Batch => "stream_batch",
            Path::Spawn => "spawn",
            Path::Parallel => "parallel",
        }
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
pub(crate) fn write<T: Serialize + Default>(path: &FsPath, rows: &[T]) -> Result<(), BoxError> {
    std::fs::write(path, to_csv(rows)?)?;
    Ok(())
}

/// Reads the CSV file `path`: `None` when it does not exist.
pub(crate) fn read<T: DeserializeOwned>(path: &FsPath) -> Result<Option<Vec<T>>, BoxError> {
    if !path.exists() {
        return Ok(None);
    }
    let mut r = csv::Reader::from_path(path)?;
    let rows: Result<Vec<T>, _> = r.deserialize().collect();
    Ok(Some(rows.map_err(|e| format!("{}: {e}", path.display()))?))
}

/// `check` of a row whose body matched the reference.
const CHECK_OK: &str = "ok";

/// `check` of a measured row: `ok`, or why it failed.
pub(crate) fn check(result: &Result<(), String>) -> String {
    match result {
        Ok(()) => CHECK_OK.to_owned(),
        Err(e) => format!("FAILED: {e}"),
    }
}

/// An enum of unit variants and its [`Category`] impl, each variant's name given once
/// beside it (a second list of the variants for `values` could fall out of step).
macro_rules! category {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $($(#[$vmeta:meta])* $variant:ident => $text:literal,)*
        }
    ) => {
        $(#[$meta])*
        $vis enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl Category for $name {
            fn values() -> impl Iterator<Item = Self> {
                [$($name::$variant),*].into_iter()
            }
            fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }
        }
    };
}

category! {
    /// Where a compare row's items come from, and how they reach the reader.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub(crate) enum Source {
        /// A slice in memory.
        #[default]
        Memory => "memory",
        /// A tokio channel fed by a producer task.
        Channel => "channel",
        /// Over HTTP, from a server with `TCP_NODELAY`.
        Http => "http",
        /// Over HTTP, from a server that leaves Nagle's algorithm on.
        HttpNagle => "http (Nagle on)",
        /// SQLite through sqlx.
        Sqlite => "sqlite",
        /// SQLite through rusqlite (`chunkstream::sqlite`).
        SqliteRusqlite => "sqlite-rusqlite",
        /// PostgreSQL through sqlx.
        Postgres => "postgres",
        /// The tickets service, as one client sees it.
        Service => "tickets service",
    }
}

impl Source {
    /// Whether its rows are read over HTTP (against the HTTP limit).
    pub(crate) fn is_http(self) -> bool {
        matches!(self, Source::Http | Source::HttpNagle)
    }
}

/// The tickets service as it was (serde_json, SQLite read through sqlx, served by plain
/// `axum::serve`, without `TCP_NODELAY`): the reference of the service's rows.
const SERVICE_BEFORE: &str = "before: serde_json + sqlx + Nagle on";

/// Who a row measures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Contestant {
    /// chunkstream (its pool, encoder and path in their columns).
    #[default]
    Chunkstream,
    /// A peer of chunkstream.
    Peer(PeerKind),
    /// The limit of the row's group.
    Limit,
    /// An encoder's limit, measured against serde_json's.
    EncoderLimit(EncoderKind),
    /// The HTTP limit, measured against serde_json's.
    HttpLimit,
    /// The tickets service.
    Service,
    /// The tickets service as it was.
    ServiceBefore,
}

impl Category for Contestant {
    fn values() -> impl Iterator<Item = Self> {
        let peers = PEERS.into_iter().chain(FORMAT_PEERS);
        [
            Contestant::Chunkstream,
            Contestant::Limit,
            Contestant::HttpLimit,
            Contestant::Service,
            Contestant::ServiceBefore,
        ]
        .into_iter()
        .chain(peers.map(Contestant::Peer))
        .chain(ENCODERS.iter().copied().map(Contestant::EncoderLimit))
    }
    fn name(self) -> &'static str {
        match self {
            Contestant::Chunkstream => "chunkstream",
            Contestant::Peer(peer) => peer.name(),
            Contestant::Limit => peers::LIMIT,
            Contestant::EncoderLimit(EncoderKind::SerdeJson) => "serde_json limit",
            Contestant::EncoderLimit(EncoderKind::SimdJson) => "simd-json limit",
            Contestant::EncoderLimit(EncoderKind::SonicRs) => "sonic-rs limit",
            Contestant::HttpLimit => "http limit",
            Contestant::Service => "the service",
            Contestant::ServiceBefore => SERVICE_BEFORE,
        }
    }
}

/// What a compare row is paired with (its ratio group's limit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Limit {
    /// An encoder's `to_writer` of the whole slice into one buffer.
    Encoder(EncoderKind),
    /// A format's own limit (`chunkstream_benches::formats`).
    Format(Framing),
    /// The whole body encoded up front and served as one `Bytes`.
    Http,
    /// axum-streams served by the same server with `TCP_NODELAY` (each chunkstream HTTP
    /// row is measured there a second time).
    HttpPeer,
    /// ... and by the server that leaves Nagle's algorithm on.
    HttpPeerNagle,
    /// The tickets service as it was.
    ServiceBefore,
}

/// A default row's: serde_json's limit.
impl Default for Limit {
    fn default() -> Self {
        Limit::Encoder(DEFAULT_ENCODER)
    }
}

impl Category for Limit {
    fn values() -> impl Iterator<Item = Self> {
        [
            Limit::Http,
            Limit::HttpPeer,
            Limit::HttpPeerNagle,
            Limit::ServiceBefore,
        ]
        .into_iter()
        .chain(ENCODERS.iter().copied().map(Limit::Encoder))
        .chain(Framing::values().map(Limit::Format))
    }
    fn name(self) -> &'static str {
        match self {
            Limit::Encoder(encoder) => encoder.name(),
            Limit::Format(framing) => framing.name(),
            Limit::Http => "http",
            Limit::HttpPeer => "axum-streams",
            Limit::HttpPeerNagle => "axum-streams, Nagle on",
            Limit::ServiceBefore => SERVICE_BEFORE,
        }
    }
}

/// A row of `compare.csv`: one contestant against its group's limit.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Compare {
    pub(crate) workload: String,
    #[serde(with = "cell")]
    pub(crate) source: Source,
    #[serde(with = "cell")]
    pub(crate) format: Framing,
    #[serde(with = "cell")]
    pub(crate) path: Option<Path>,
    #[serde(with = "cell")]
    pub(crate) contestant: Contestant,
    #[serde(with = "cell")]
    pub(crate) pool: Option<PoolKind>,
    #[serde(with = "cell")]
    pub(crate) encoder: Option<EncoderKind>,
    #[serde(with = "cell")]
    pub(crate) limit: Limit,
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

    /// Whether its body matched the reference (and it was timed).
    pub(crate) fn is_ok(&self) -> bool {
        self.check == CHECK_OK
    }

    /// A chunkstream row on `path` (`Item`: the direct one), JSON array.
    pub(crate) fn is_chunkstream(
        &self,
        workload: &str,
        source: Source,
        path: Path,
        pool: PoolKind,
        encoder: EncoderKind,
    ) -> bool {
        self.workload == workload
            && self.source == source
            && self.format == Framing::Array
            && self.path == Some(path)
            && self.contestant == Contestant::Chunkstream
            && self.pool == Some(pool)
            && self.encoder == Some(encoder)
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
    #[serde(with = "cell")]
    pub(crate) case: Shape,
    #[serde(with = "cell")]
    pub(crate) pool: Buffers,
    #[serde(with = "cell")]
    pub(crate) reference: Buffers,
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
    #[serde(with = "cell")]
    pub(crate) contestant: Contestant,
    #[serde(with = "cell")]
    pub(crate) pool: Option<PoolKind>,
    #[serde(with = "cell")]
    pub(crate) encoder: Option<EncoderKind>,
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
    #[serde(with = "cell")]
    pub(crate) path: Path,
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
    #[serde(with = "cell")]
    pub(crate) pool: PoolKind,
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
    #[serde(with = "cell")]
    pub(crate) pool: PoolKind,
    pub(crate) concurrent: usize,
    pub(crate) requests: u64,
    pub(crate) mb_per_s: Num<1>,
    pub(crate) hit_rate: Num<3>,
    pub(crate) rounds: usize,
}

/// A row of `alloc.csv`: one strategy's allocations, counted in a child process.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Alloc {
    #[serde(with = "cell")]
    pub(crate) pool: PoolKind,
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

    /// Each category's names read back as the values written (no two share a name), an
    /// absent one as `-`; a row's categories are written as their names.
    #[test]
    fn categories_read_back_as_written() {
        fn round_trip<T: Category + fmt::Debug>() {
            for v in T::values() {
                assert_eq!(T::parse(v.name()), Some(v), "{}", v.name());
                assert_eq!(Option::<T>::parse(v.name()), Some(Some(v)));
            }
            assert_eq!(Option::<T>::parse("-"), Some(None));
            assert_eq!(T::parse("-"), None);
        }
        round_trip::<Source>();
        round_trip::<Contestant>();
        round_trip::<Limit>();
        round_trip::<PoolKind>();
        round_trip::<EncoderKind>();
        round_trip::<Framing>();
        round_trip::<Path>();
        round_trip::<Shape>();
        round_trip::<Buffers>();
        let row = Compare {
            source: Source::HttpNagle,
            contestant: Contestant::Peer(PeerKind::AxumStreams),
            limit: Limit::HttpPeerNagle,
            ..Compare::default()
        };
        let text = to_csv(&[row]).unwrap();
        let line = text.lines().nth(1).unwrap();
        assert!(
            line.starts_with(
                ",http (Nagle on),json_array,-,axum-streams,-,-,\"axum-streams, Nagle on\","
            ),
            "{line}"
        );
        let back: Vec<Compare> = csv::Reader::from_reader(text.as_bytes())
            .deserialize()
            .map(Result::unwrap)
            .collect();
        assert_eq!(back[0].limit, Limit::HttpPeerNagle);
        assert_eq!(back[0].path, None);
        let unknown = text.replace("http (Nagle on)", "http (Nagle off)");
        let mut r = csv::Reader::from_reader(unknown.as_bytes());
        assert!(r.deserialize::<Compare>().next().unwrap().is_err());
    }

    #[test]
    fn formats_missing_numbers() {
        assert_eq!(fmt_num(f64::NAN, 2), "-");
        assert_eq!(fmt_num(0.95123, 2), "0.95");
    }
}
