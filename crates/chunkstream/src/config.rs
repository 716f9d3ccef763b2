//! [`ChunkConfig`]: buffer, chunk and batch sizes, pool bounds, and their validation.

use std::fmt;
use std::time::Duration;

/// Capacity of each pooled buffer, in bytes. This is the default `buffer_size`.
pub const DEFAULT_BUFFER_SIZE: usize = 50 * (1 << 10); // 50 KiB
/// Length at which a buffer is cut into a chunk. This is the default `chunk_threshold`.
pub const DEFAULT_CHUNK_THRESHOLD: usize = 32 * (1 << 10); // 32 KiB
/// Items per batch on the batch path. This is the default `batch_size`.
pub const DEFAULT_BATCH_SIZE: usize = 1000;
/// Buffers a pool keeps at most. This is the default `max_pooled`.
pub const DEFAULT_MAX_POOLED: usize = 256;
/// The largest `buffer_size` accepted: each buffer is allocated with this capacity.
pub const MAX_BUFFER_SIZE: usize = 1 << 30; // 1 GiB
/// The largest `max_pooled` accepted: some pools reserve a slot per buffer up front.
pub const MAX_POOLED: usize = 1 << 16; // 65_536 buffers
/// Factor applied to `buffer_size` to get the default `max_retained`.
pub const DEFAULT_RETAIN_FACTOR: usize = 2;
/// Chunks `ChunkStream::spawn` may queue ahead of a slow reader. This is the default.
pub const DEFAULT_CHANNEL_CAPACITY: usize = 4;

/// How chunkstream sizes its buffers, chunks and batches.
///
/// A zero in any size field means "use the default", as in the Go package this crate
/// succeeds; [`ChunkConfig::validate`] fills them in and rejects contradictions. The
/// pool's bounds live in [`pool`](ChunkConfig::pool), a [`PoolConfig`]: one source for
/// both structs.
///
/// # Examples
///
/// ```
/// use chunkstream::{ChunkConfig, PoolConfig};
///
/// // Zero means "default": here `max_retained` becomes twice the buffer size.
/// let config = ChunkConfig::default()
///     .with_pool(PoolConfig::default().with_buffer_size(16 * 1024).with_max_retained(0))
///     .with_chunk_threshold(8 * 1024)
///     .validate()?;
/// assert_eq!(config.pool.max_retained, 32 * 1024);
/// # Ok::<_, chunkstream::ConfigError>(())
/// ```
///
/// The struct is `#[non_exhaustive]`: build it from [`ChunkConfig::default`] with the
/// `with_*` setters (or assign its public fields), so that a new field is not a breaking
/// change.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChunkConfig {
    /// The bounds of the pool [`Streamer::new`](crate::Streamer::new) builds: buffer
    /// size, buffers kept, largest buffer kept. Default [`PoolConfig::default`].
    pub pool: PoolConfig,
    /// A buffer is cut into a chunk once its length reaches this many bytes, always on
    /// an item boundary. Default 32_768 (32 KiB). Must not exceed `pool.buffer_size`.
    pub chunk_threshold: usize,
    /// Items per batch on the batch path ([`Streamer::stream_batch`](crate::Streamer::stream_batch)).
    /// Default 1000.
    pub batch_size: usize,
    /// When set, a partly filled buffer is sent once this long has passed since its
    /// first byte, so a slow source still reaches the client promptly. Default `None`.
    pub flush_interval: Option<Duration>,
    /// Chunks [`ChunkStream::spawn`](crate::ChunkStream::spawn) may queue ahead of the reader
    /// (its backpressure bound). Default 4.
    pub channel_capacity: usize,
    /// The write-stall limit of a spawned stream ([`ChunkStream::spawn`](crate::ChunkStream::spawn)): when a chunk has waited
    /// this long for room in the full channel (the reader took nothing meanwhile), the
    /// task stops, drops the source (and, say, the database connection it holds) and
    /// every queued buffer, and the reader's next item is
    /// [`StreamError::Stalled`](crate::StreamError::Stalled). Default `None`: no limit.
    /// The direct paths ([`Streamer::stream`](crate::Streamer::stream)) have no task that
    /// could notice a stall; they do nothing at all while they are not polled.
    pub stall_timeout: Option<Duration>,
    /// The minimum data rate of a spawned stream's reader (the pattern of Kestrel's
    /// `MinResponseDataRate`; the rule is at [`MinDataRate`]): a reader that misses it
    /// is cut the way a stalled one is, and its next item is
    /// [`StreamError::TooSlow`](crate::StreamError::TooSlow) with the rate it read at
    /// since it fell behind. It catches the reader that keeps taking a little, which the
    /// stall limit never does. Default `None`: no minimum. The direct paths are not
    /// affected, for the reason given at `stall_timeout`.
    pub min_data_rate: Option<MinDataRate>,
}

/// The slowest pace a spawned stream's reader may keep; see
/// [`ChunkConfig::min_data_rate`].
///
/// The reader is judged on the chunks it takes while the stream waits for it (its
/// channel is full): each such chunk moves a deadline on by its time at
/// `bytes_per_second`, from the previous deadline but never from more than `grace`
/// ahead of now. A reader that keeps at least that pace is never cut; the grace absorbs
/// the steps in which the HTTP stack takes chunks. Unlike Kestrel's rule, a reader that
/// was fast for a while banks at most `grace` for a later slow patch: what it read
/// fast went into the HTTP stack's and the socket's buffers, which say nothing of its
/// pace.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use chunkstream::{ChunkConfig, config::MinDataRate};
///
/// // Kestrel's default: 240 bytes/s after a 5 s grace period.
/// let config = ChunkConfig::default().with_min_data_rate(MinDataRate::KESTREL);
/// assert_eq!(config.min_data_rate.unwrap().bytes_per_second, 240);
/// let config = ChunkConfig::default()
///     .with_min_data_rate(MinDataRate::new(4096, Duration::from_secs(5)));
/// assert_eq!(config.min_data_rate.unwrap().grace, Duration::from_secs(5));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MinDataRate {
    /// Bytes per second the reader must average. `0` means no minimum
    /// ([`ChunkConfig::validate`] turns it into `None`).
    pub bytes_per_second: u64,
    /// How long a reader may lag before the rate applies.
    pub grace: Duration,
}

impl MinDataRate {
    /// ASP.NET Core Kestrel's `MinResponseDataRate` default: 240 bytes/s after a 5 s
    /// grace period.
    pub const KESTREL: MinDataRate = MinDataRate::new(240, Duration::from_secs(5));

    /// A minimum of `bytes_per_second`, after `grace`.
    pub const fn new(bytes_per_second: u64, grace: Duration) -> MinDataRate {
        MinDataRate {
            bytes_per_second,
            grace,
        }
    }
}

impl Default for ChunkConfig {
    fn default() -> Self {
        ChunkConfig {
            pool: PoolConfig::default(),
            chunk_threshold: DEFAULT_CHUNK_THRESHOLD,
            batch_size: DEFAULT_BATCH_SIZE,
            flush_interval: None,
            channel_capacity: DEFAULT_CHANNEL_CAPACITY,
            stall_timeout: None,
            min_data_rate: None,
        }
    }
}

/// `with_*` setters, one per field, each returning the changed value.
macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident($field:ident: $ty:ty);)*) => {$(
        $(#[$doc])*
        #[must_use]
        pub fn $name(mut self, $field: $ty) -> Self {
            self.$field = $field.into();
            self
        }
    )*};
}

impl ChunkConfig {
    /// A configuration with a given buffer size and chunk threshold, other fields default
    /// (`max_retained` follows the buffer size).
    ///
    /// # Examples
    ///
    /// ```
    /// let config = chunkstream::ChunkConfig::with_sizes(8192, 4096);
    /// assert_eq!(config.pool.max_retained, 16384);
    /// ```
    pub fn with_sizes(buffer_size: usize, chunk_threshold: usize) -> Self {
        let pool = PoolConfig {
            buffer_size,
            max_retained: buffer_size.saturating_mul(DEFAULT_RETAIN_FACTOR),
            ..PoolConfig::default()
        };
        ChunkConfig {
            pool,
            chunk_threshold,
            ..ChunkConfig::default()
        }
    }

    /// The same configuration with another `pool.buffer_size`, which `max_retained`
    /// follows as [`PoolConfig::with_buffer_size`] says.
    #[must_use]
    pub fn with_buffer_size(mut self, buffer_size: usize) -> Self {
        self.pool = self.pool.with_buffer_size(buffer_size);
        self
    }

    setters! {
        /// The same configuration with other pool bounds.
        with_pool(pool: PoolConfig);
        /// The same configuration with another `chunk_threshold`.
        with_chunk_threshold(chunk_threshold: usize);
        /// The same configuration with another `batch_size`.
        with_batch_size(batch_size: usize);
        /// The same configuration with another `flush_interval` (a `Duration`, or `None`).
        ///
        /// # Examples
        ///
        /// ```
        /// use std::time::Duration;
        ///
        /// let config = chunkstream::ChunkConfig::default().with_flush_interval(Duration::from_millis(20));
        /// assert_eq!(config.flush_interval, Some(Duration::from_millis(20)));
        /// ```
        with_flush_interval(flush_interval: impl Into<Option<Duration>>);
        /// The same configuration with another `channel_capacity`.
        with_channel_capacity(channel_capacity: usize);
        /// The same configuration with another `stall_timeout` (a `Duration`, or `None`).
        with_stall_timeout(stall_timeout: impl Into<Option<Duration>>);
        /// The same configuration with another `min_data_rate` (a [`MinDataRate`], or
        /// `None`).
        with_min_data_rate(min_data_rate: impl Into<Option<MinDataRate>>);
    }

    /// Fills zero fields with their defaults and rejects what cannot be honoured.
    ///
    /// One rule for every field: a zero means "the default". The pool's bounds are
    /// checked by [`PoolConfig::validate`]; zero `chunk_threshold` becomes the default or
    /// the buffer size, whichever is smaller, zero `batch_size` and `channel_capacity`
    /// their defaults; `Some(Duration::ZERO)` as `flush_interval` or `stall_timeout`
    /// becomes `None`, and so does a `min_data_rate` of 0 bytes/s.
    ///
    /// Accepted, after filling:
    ///
    /// | field | range |
    /// | --- | --- |
    /// | `pool` | what [`PoolConfig::validate`] accepts |
    /// | `chunk_threshold` | `1..=pool.buffer_size` |
    /// | `batch_size` | any (a batch's storage grows as items come, it is not reserved up front) |
    /// | `channel_capacity` | any (above tokio's limit of `usize::MAX >> 3` queued chunks, that limit applies) |
    /// | `flush_interval`, `stall_timeout` | any (above 30 years, 30 years applies) |
    /// | `min_data_rate` | any rate and grace (a grace above 30 years means 30 years) |
    ///
    /// Every configuration it accepts works on every path.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the field, its value and the accepted range.
    pub fn validate(mut self) -> Result<Self, ConfigError> {
        self.pool = self.pool.validate()?;
        let buffer_size = self.pool.buffer_size;
        fill(
            &mut self.chunk_threshold,
            DEFAULT_CHUNK_THRESHOLD.min(buffer_size),
        );
        fill(&mut self.batch_size, DEFAULT_BATCH_SIZE);
        fill(&mut self.channel_capacity, DEFAULT_CHANNEL_CAPACITY);
        for timer in [&mut self.flush_interval, &mut self.stall_timeout] {
            if *timer == Some(Duration::ZERO) {
                *timer = None;
            }
        }
        if self
            .min_data_rate
            .is_some_and(|rate| rate.bytes_per_second == 0)
        {
            self.min_data_rate = None;
        }
        if self.chunk_threshold > buffer_size {
            return Err(ConfigError::ThresholdAboveBuffer {
                chunk_threshold: self.chunk_threshold,
                buffer_size,
            });
        }
        Ok(self)
    }
}

/// The bounds a pool is built with: [`ChunkConfig::pool`], or on their own for a pool
/// used outside a [`Streamer`](crate::Streamer).
///
/// `#[non_exhaustive]`: build it from [`PoolConfig::default`] with the `with_*` setters.
///
/// # Examples
///
/// ```
/// use chunkstream::PoolConfig;
///
/// let config = PoolConfig::default().with_buffer_size(1024).with_max_pooled(8).with_max_retained(4096);
/// assert_eq!((config.buffer_size, config.max_pooled, config.max_retained), (1024, 8, 4096));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolConfig {
    /// Capacity of a freshly allocated buffer, in bytes. Default 51_200 (50 KiB).
    pub buffer_size: usize,
    /// Buffers a pool keeps for reuse at most. Default 256. Must be at least 1.
    pub max_pooled: usize,
    /// A returned buffer whose capacity exceeds this is dropped rather than pooled.
    /// Default `2 * buffer_size`. Must be at least `buffer_size`.
    pub max_retained: usize,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            buffer_size: DEFAULT_BUFFER_SIZE,
            max_pooled: DEFAULT_MAX_POOLED,
            max_retained: DEFAULT_BUFFER_SIZE * DEFAULT_RETAIN_FACTOR,
        }
    }
}

/// A zero means "the default" (the one rule of [`ChunkConfig::validate`]).
fn fill(field: &mut usize, default: usize) {
    if *field == 0 {
        *field = default;
    }
}

/// `value` within `min..=max`, or the error naming `field`.
fn check_range(
    field: &'static str,
    value: usize,
    min: usize,
    max: usize,
) -> Result<(), ConfigError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(ConfigError::OutOfRange {
            field,
            value,
            min,
            max,
        })
    }
}

impl PoolConfig {
    /// Fills zero fields with their defaults and rejects what a pool cannot honour, by the
    /// same rule as [`ChunkConfig::validate`]: zero `buffer_size` and `max_pooled` become
    /// their defaults, zero `max_retained` twice the buffer size; `buffer_size` must be in
    /// `1..=`[`MAX_BUFFER_SIZE`] (1 GiB), `max_pooled` in `1..=`[`MAX_POOLED`] (65_536),
    /// and `max_retained` at least `buffer_size` (or every buffer would be dropped on
    /// return).
    ///
    /// [`FromPoolConfig::try_from_pool_config`](crate::pool::FromPoolConfig::try_from_pool_config)
    /// builds a pool from validated bounds.
    ///
    /// # Examples
    ///
    /// ```
    /// use chunkstream::PoolConfig;
    ///
    /// let zeros = PoolConfig::default().with_buffer_size(0).with_max_pooled(0).with_max_retained(0);
    /// assert_eq!(zeros.validate(), Ok(PoolConfig::default()));
    /// assert!(PoolConfig::default().with_max_retained(1).validate().is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the field, its value and the accepted range.
    pub fn validate(self) -> Result<Self, ConfigError> {
        let config = self.fill_defaults();
        check_range("buffer_size", config.buffer_size, 1, MAX_BUFFER_SIZE)?;
        check_range("max_pooled", config.max_pooled, 1, MAX_POOLED)?;
        if config.max_retained < config.buffer_size {
            return Err(ConfigError::RetainedBelowBuffer {
                max_retained: config.max_retained,
                buffer_size: config.buffer_size,
            });
        }
        Ok(config)
    }

    /// The same bounds with zeros replaced by the defaults, unchecked (the first half of
    /// [`validate`](PoolConfig::validate)).
    #[must_use]
    pub fn fill_defaults(mut self) -> Self {
        fill(&mut self.buffer_size, DEFAULT_BUFFER_SIZE);
        fill(&mut self.max_pooled, DEFAULT_MAX_POOLED);
        fill(
            &mut self.max_retained,
            self.buffer_size.saturating_mul(DEFAULT_RETAIN_FACTOR),
        );
        self
    }

    /// The same bounds with another `buffer_size`.
    ///
    /// `max_retained` follows when it would fall below the new size (it becomes twice
    /// the size, the default ratio), so asking for a valid size never leaves the
    /// configuration invalid.
    #[must_use]
    pub fn with_buffer_size(mut self, buffer_size: usize) -> Self {
        self.buffer_size = buffer_size;
        if self.max_retained != 0 && self.max_retained < buffer_size {
            self.max_retained = buffer_size.saturating_mul(DEFAULT_RETAIN_FACTOR);
        }
        self
    }

    setters! {
        /// The same bounds with another `max_pooled`.
        with_max_pooled(max_pooled: usize);
        /// The same bounds with another `max_retained`.
        with_max_retained(max_retained: usize);
    }
}

/// A value out of range or a contradiction in a [`ChunkConfig`] or a [`PoolConfig`],
/// found by [`ChunkConfig::validate`] or [`PoolConfig::validate`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// `chunk_threshold` is larger than `buffer_size`: every chunk would need a regrown
    /// buffer.
    ThresholdAboveBuffer {
        /// The requested threshold.
        chunk_threshold: usize,
        /// The buffer size it exceeds.
        buffer_size: usize,
    },
    /// `max_retained` is smaller than `buffer_size`: the pool would drop every buffer it
    /// hands out.
    RetainedBelowBuffer {
        /// The requested retention bound.
        max_retained: usize,
        /// The buffer size it is below.
        buffer_size: usize,
    },
    /// A field is outside the range that can be honoured.
    OutOfRange {
        /// The field's name.
        field: &'static str,
        /// The requested value.
        value: usize,
        /// The smallest accepted value (after a zero became the default).
        min: usize,
        /// The largest accepted value.
        max: usize,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::ThresholdAboveBuffer {
                chunk_threshold,
                buffer_size,
            } => write!(
                f,
                "invalid chunk config: chunk_threshold ({chunk_threshold}) exceeds pool.buffer_size ({buffer_size})"
            ),
            ConfigError::RetainedBelowBuffer {
                max_retained,
                buffer_size,
            } => write!(
                f,
                "invalid pool config: max_retained ({max_retained}) is below buffer_size ({buffer_size})"
            ),
            ConfigError::OutOfRange {
                field,
                value,
                min,
                max,
            } => write!(
                f,
                "invalid pool config: {field} ({value}) is out of range: accepted {min}..={max} (0 means the default)"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}
