//! The CSV files the lab writes, one serde struct per file, written and read back with
//! the `csv` crate. Reports and claims are computed from these typed rows: nothing is
//! found by column position or by a cell's text (categorical columns are [`Category`]
//! values).

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

/// A closed set of values a column holds, each written as its name: a renamed category
/// is a compile error rather than a row silently missed, and an unknown name is an
/// error where the file is read.
pub(crate) trait Category: Copy + PartialEq + 'static {
    fn values() -> impl Iterator<Item = Self>;
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

/// [`Category`] of an enum of unit variants, each variant's name given once beside it:
/// declaring the enum, or (`impl`) for an enum declared elsewhere.
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
        category! { impl $name { $($variant => $text,)* } }
    };
    (impl $name:ident { $($variant:ident => $text:literal,)* }) => {
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

/// [`Category`] of the benches' enums that name themselves.
macro_rules! named_category {
    ($($name:ident: $values:expr,)*) => {$(
        impl Category for $name {
            fn values() -> impl Iterator<Item = Self> {
                $values.into_iter()
            }
            fn name(self) -> &'static str {
                $name::name(self)
            }
        }
    )*};
}

named_category! {
    PoolKind: POOLS.iter().copied(),
    EncoderKind: ENCODERS.iter().copied(),
    Framing: [Framing::Array, Framing::Ndjson, Framing::Csv, Framing::Envelope, Framing::Sse],
}

// A path is named for its streamer method.
category! {
    impl Path {
        Item => "stream",
        Batch => "stream_batch",
        Spawn => "spawn",
        Parallel => "parallel",
    }
}

pub(crate) fn columns<const D: usize>(e: &Estimate) -> (Num<D>, Num<D>, Num<D>) {
    (Num(e.median), Num(e.lo), Num(e.hi))
}

/// CSV text of `rows` (the header alone when there are none).
pub(crate) fn to_csv<T: Serialize + Default>(rows: &[T]) -> Result<String, BoxError> {
    // The header is written with the first row: without rows, a default row's, cut off.
    let default = [T::default()];
    let written = if rows.is_empty() { &default[..] } else { rows };
    let mut w = csv::Writer::from_writer(Vec::new());
    for row in written {
        w.serialize(row)?;
    }
    let text = String::from_utf8(w.into_inner().map_err(|e| e.to_string())?)?;
    Ok(match rows.is_empty() {
        true => text
            .split_inclusive('\n')
            .next()
            .unwrap_or_default()
            .to_owned(),
        false => text,
    })
}

pub(crate) fn write<T: Serialize + Default>(path: &FsPath, rows: &[T]) -> Result<(), BoxError> {
    std::fs::write(path, to_csv(rows)?)?;
    Ok(())
}

/// Reads the CSV file `path`: `None` when it does not exist.
pub(crate) fn read<T: DeserializeOwned>(path: &FsPath) -> Result<Option<Vec<T>>, BoxError> {
    if !path.exists() {
        return Ok(None);
    }
    let rows: Result<Vec<T>, _> = csv::Reader::from_path(path)?.deserialize().collect();
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

category! {
    /// Where a compare row's items come from, and how they reach the reader.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub(crate) enum Source {
        #[default]
        Memory => "memory",
        /// A tokio channel fed by a producer task.
        Channel => "channel",
        /// Over HTTP, from a server with `TCP_NODELAY`.
        Http => "http",
        HttpNagle => "http (Nagle on)",
        /// SQLite through sqlx.
        Sqlite => "sqlite",
        /// SQLite through rusqlite (`chunkstream::sqlite`).
        SqliteRusqlite => "sqlite-rusqlite",
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
    Peer(PeerKind),
    /// The limit of the row's group.
    Limit,
    /// An encoder's limit, measured against serde_json's.
    EncoderLimit(EncoderKind),
    /// The HTTP limit, measured against serde_json's.
    HttpLimit,
    /// The tickets service, as it is and as it was.
    Service,
    ServiceBefore,
}

impl Category for Contestant {
    fn values() -> impl Iterator<Item = Self> {
        use Contestant::*;
        let peers = PEERS.into_iter().chain(FORMAT_PEERS).map(Peer);
        let encoders = ENCODERS.iter().copied().map(EncoderLimit);
        [Chunkstream, Limit, HttpLimit, Service, ServiceBefore]
            .into_iter()
            .chain(peers)
            .chain(encoders)
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
    /// row is measured there a second time), and by the one that leaves Nagle on.
    HttpPeer,
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
        use Limit::*;
        [Http, HttpPeer, HttpPeerNagle, ServiceBefore]
            .into_iter()
            .chain(ENCODERS.iter().copied().map(Encoder))
            .chain(Framing::values().map(Format))
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

/// Declares row structs: every field `pub(crate)`; `a, a_lo, a_hi: T` declares a group
/// of columns of one type (a figure and its interval).
macro_rules! rows {
    ($(
        $(#[$meta:meta])*
        $name:ident {
            $($(#[$fmeta:meta])* $field:ident $(, $more:ident)*: $ty:ty,)*
        }
    )*) => {$(
        $(#[$meta])*
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
        pub(crate) struct $name {
            $($(#[$fmeta])* pub(crate) $field: $ty, $(pub(crate) $more: $ty,)*)*
        }
    )*};
}

rows! {
    /// A row of `compare.csv`: one contestant against its group's limit.
    Compare {
        workload: String,
        #[serde(with = "cell")] source: Source,
        #[serde(with = "cell")] format: Framing,
        #[serde(with = "cell")] path: Option<Path>,
        #[serde(with = "cell")] contestant: Contestant,
        #[serde(with = "cell")] pool: Option<PoolKind>,
        #[serde(with = "cell")] encoder: Option<EncoderKind>,
        #[serde(with = "cell")] limit: Limit,
        items: u64,
        body_bytes, pairs: Num<0>,
        mb_per_s: Num<1>,
        items_per_s: Num<0>,
        ratio, ratio_lo, ratio_hi: Num<3>,
        limit_variation: Num<4>,
        allocs_per_request: Num<1>,
        alloc_bytes_per_request, chunks_per_request, first_chunk_us: Num<0>,
        hit_rate: Num<3>,
        check: String,
    }

    /// A row of `tuning.csv` and `tuning_confirm.csv`: one configuration against the
    /// limit.
    Tuning {
        workload: String,
        buffer_kib, threshold_kib, batch: usize,
        items, body_bytes: u64,
        pairs: usize,
        ratio, ratio_lo, ratio_hi: Num<3>,
        limit_variation: Num<4>,
        mb_per_s, allocs_per_request: Num<1>,
        alloc_bytes_per_request: Num<0>,
        chunks_per_request: u64,
        first_chunk_us: Num<0>,
        check: String,
    }

    /// A row of `noise.csv` and `tuning_noise.csv`.
    Noise {
        measurement: String,
        variation: Num<4>,
        threshold: Num<2>,
        noisy: bool,
    }

    /// A row of `pool_ops.csv`: a pool's get + put against a reference, in ns per op.
    PoolOps {
        #[serde(with = "cell")] case: Shape,
        #[serde(with = "cell")] pool: Buffers,
        #[serde(with = "cell")] reference: Buffers,
        ns_per_op, ns_lo, ns_hi: Num<2>,
        reference_ns, reference_ns_lo, reference_ns_hi: Num<2>,
        ratio, ratio_lo, ratio_hi: Num<3>,
        pairs: usize,
        hit_rate: Num<3>,
        reference_variation: Num<4>,
        go_slices: String,
    }

    /// A row of `alloc_steady.csv`: bytes and allocations per 100-ticket request.
    Steady {
        #[serde(with = "cell")] contestant: Contestant,
        #[serde(with = "cell")] pool: Option<PoolKind>,
        #[serde(with = "cell")] encoder: Option<EncoderKind>,
        items, json_bytes: usize,
        allocs_per_request: Num<2>,
        bytes_per_request, bytes_lo, bytes_hi: Num<1>,
        requests: u64,
    }

    /// A row of `first_byte.csv`: the delay to the first byte from a slow source.
    FirstByte {
        #[serde(with = "cell")] path: Path,
        flush_interval_ms, item_period_ms: Num<1>,
        delay_ms_median, delay_ms_lo, delay_ms_hi: Num<2>,
        delay_ms_max: Num<2>,
        requests: usize,
    }

    /// A row of `pool_mixed.csv`: a pool on large responses after tiny ones.
    Mixed {
        #[serde(with = "cell")] pool: PoolKind,
        tiny_requests, large_requests, large_chunks, hits, misses: u64,
        hit_rate: Num<3>,
        dropped_oversize: u64,
        allocs_per_large_response: Num<1>,
    }

    /// A row of `go.csv`: one figure of the Go package measured here.
    Go {
        figure: GoFigure,
        value, lo, hi: Num<3>,
        pairs: usize,
        note: String,
    }

    /// A row of `parallel.csv` and `database.csv`: a contestant paired with its
    /// reference.
    Paired {
        section, contestant, reference: String,
        body_bytes: u64,
        pairs: usize,
        mb_per_s, reference_mb_per_s: Num<1>,
        ratio, ratio_lo, ratio_hi: Num<3>,
        target: Num<2>,
        verdict: String,
        reference_variation: Num<4>,
        peak_buffers, peak_buffer_bytes, buffer_bound: Num<0>,
        note: String,
    }

    /// A row of `soak.csv`: one sample of resident memory.
    SoakSample {
        seconds: Num<2>,
        bytes_streamed, chunks, rss_kib: u64,
    }

    /// The row of `soak_summary.csv`.
    Soak {
        items, bytes, chunks: u64,
        seconds, mb_per_s: Num<1>,
        baseline_mib, peak_sampled_mib, vm_hwm_mib, peak_above_baseline_mib: Num<1>,
        pool_hits, pool_misses, pooled_buffers: u64,
    }

    /// A row of `concurrency.csv`.
    Concurrency {
        #[serde(with = "cell")] pool: PoolKind,
        concurrent: usize,
        requests: u64,
        mb_per_s: Num<1>,
        hit_rate: Num<3>,
        rounds: usize,
    }

    /// A row of `alloc.csv`: one strategy's allocations, counted in a child process.
    Alloc {
        #[serde(with = "cell")] pool: PoolKind,
        tool: String,
        items: usize,
        requests: u64,
        blocks_per_request: Num<2>,
        bytes_per_request: Num<1>,
        max_live_bytes: Num<0>,
    }
}

impl Compare {
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

impl Tuning {
    pub(crate) fn point(&self) -> crate::cmd::tune::Point {
        let (buffer_kib, threshold_kib, batch) = (self.buffer_kib, self.threshold_kib, self.batch);
        crate::cmd::tune::Point {
            buffer_kib,
            threshold_kib,
            batch,
        }
    }
}

/// Accessors of rows' figures with their 95% intervals: `name: median, lo, hi / n`,
/// the columns and the samples' count (from the row `r`).
macro_rules! intervals {
    ($($row:ident {
        $($(#[$doc:meta])* $name:ident: $m:ident, $lo:ident, $hi:ident / |$r:ident| $n:expr;)*
    })*) => {$(
        impl $row {$(
            $(#[$doc])*
            pub(crate) fn $name(&self) -> Estimate {
                let $r = self;
                Estimate::new($r.$m.0, $r.$lo.0, $r.$hi.0, $n)
            }
        )*}
    )*};
}

intervals! {
    Compare { ratio: ratio, ratio_lo, ratio_hi / |r| r.pairs.0 as usize; }
    Tuning { ratio: ratio, ratio_lo, ratio_hi / |r| r.pairs; }
    PoolOps {
        ns: ns_per_op, ns_lo, ns_hi / |r| r.pairs;
        reference_ns: reference_ns, reference_ns_lo, reference_ns_hi / |r| r.pairs;
        /// The pool's time over the reference's.
        ratio: ratio, ratio_lo, ratio_hi / |r| r.pairs;
    }
    Steady {
        /// Bytes per request with the interval over the passes.
        bytes: bytes_per_request, bytes_lo, bytes_hi / |_r| 10;
    }
    Paired { ratio: ratio, ratio_lo, ratio_hi / |r| r.pairs; }
    Go { value: value, lo, hi / |r| r.pairs; }
    FirstByte { delay: delay_ms_median, delay_ms_lo, delay_ms_hi / |r| r.requests; }
}

/// The figures of `go.csv`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum GoFigure {
    /// Whether Go ran, and its version (`note`), or why not.
    #[default]
    Status,
    /// chunkstream's bulk MB/s over the Go streamer's on one core (`GOMAXPROCS=1`),
    /// paired, over every slice: one core each.
    BulkRatio,
    /// As `BulkRatio`, over the slices where Go ran at its best (`go::best`): the
    /// headline when measured (reports before it have only `BulkRatio`).
    #[serde(rename = "bulk_ratio_at_go_best")]
    BulkRatioAtGoBest,
    /// chunkstream's and the Go streamer's bulk MB/s in the pairs.
    #[serde(rename = "bulk_chunkstream_mb_s")]
    BulkChunkstream,
    #[serde(rename = "bulk_go_mb_s")]
    BulkGo,
    /// As `BulkRatio` and `BulkGo` against Go at its default `GOMAXPROCS` (every core).
    #[serde(rename = "bulk_ratio_go_all_cores")]
    BulkRatioAllCores,
    #[serde(rename = "bulk_go_all_cores_mb_s")]
    BulkGoAllCores,
    /// The Go streamer's MB/s over Go's own limit (`json.Marshal` of the slice), paired.
    #[serde(rename = "go_vs_go_limit")]
    GoVsLimit,
    /// Go: bytes and allocations per 100-ticket request, with its pool and without.
    RequestPooledBytes,
    RequestPooledAllocs,
    RequestUnpooledBytes,
    RequestUnpooledAllocs,
}

impl GoFigure {
    /// The decimals the report shows it with.
    pub(crate) fn decimals(self) -> usize {
        use GoFigure::*;
        match self {
            BulkRatio | BulkRatioAtGoBest | BulkRatioAllCores | GoVsLimit => 3,
            BulkChunkstream | BulkGo | BulkGoAllCores => 1,
            _ => 0, // counts, and the status
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_with_missing_numbers_as_dashes() {
        let row = |name: &str, v| Noise {
            measurement: name.into(),
            variation: Num(v),
            threshold: Num(0.05),
            noisy: false,
        };
        let text = to_csv(&[row("a, b", 0.01234), row("", f64::NAN)]).unwrap();
        let header = "measurement,variation,threshold,noisy\n";
        assert_eq!(
            text,
            format!("{header}\"a, b\",0.0123,0.05,false\n,-,0.05,false\n")
        );
        let back: Vec<Noise> = csv::Reader::from_reader(text.as_bytes())
            .deserialize()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            (back[0].measurement.as_str(), back[0].variation),
            ("a, b", Num(0.0123))
        );
        assert!(back[1].variation.0.is_nan());
        assert_eq!(to_csv::<Noise>(&[]).unwrap(), header);
        assert_eq!(
            (fmt_num(f64::NAN, 2), fmt_num(0.95123, 2)),
            ("-".into(), "0.95".into())
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
            assert_eq!((Option::<T>::parse("-"), T::parse("-")), (Some(None), None));
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
        let cells = ",http (Nagle on),json_array,-,axum-streams,-,-,\"axum-streams, Nagle on\",";
        assert!(text.lines().nth(1).unwrap().starts_with(cells), "{text}");
        let read = |text: &str| -> Result<Vec<Compare>, csv::Error> {
            csv::Reader::from_reader(text.as_bytes())
                .deserialize()
                .collect()
        };
        let back = read(&text).unwrap();
        assert_eq!((back[0].limit, back[0].path), (Limit::HttpPeerNagle, None));
        assert!(read(&text.replace("http (Nagle on)", "http (Nagle off)")).is_err());
    }
}
