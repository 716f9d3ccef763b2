//! Deterministic (seeded) workloads: the tickets rows of the original service (~400-500
//! bytes of JSON each), small items (~60 bytes) and large items (~8 KiB).
//!
//! The same seed always gives the same items, on every machine, so runs compare.

use serde::Serialize;

/// The seed every workload uses unless told otherwise.
pub const SEED: u64 = 0x00c0_ffee_5eed;

/// The seeded generator every workload draws from (SplitMix64, shared with the tickets
/// service's seeding).
pub use chunkstream_fixtures::SplitMix64 as Rng;

/// `count` random words from a small vocabulary, space separated.
fn words(rng: &mut Rng, count: usize) -> String {
    let mut out = String::with_capacity(count * 8);
    for i in 0..count {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(rng.pick(WORDS));
    }
    out
}

const WORDS: &[&str] = &[
    "login",
    "fails",
    "after",
    "update",
    "the",
    "dashboard",
    "shows",
    "stale",
    "data",
    "when",
    "export",
    "times",
    "out",
    "for",
    "large",
    "reports",
    "user",
    "cannot",
    "reset",
    "password",
    "\"quoted\"",
    "café",
    "naïve",
    "日本",
    "tab\there",
    "line\nbreak",
    "API",
    "returns",
    "500",
    "on",
    "empty",
    "filter",
    "slow",
    "query",
    "in",
    "search",
    "index",
];
const STATUSES: &[&str] = &["open", "in_progress", "blocked", "review", "closed"];
const PRIORITIES: &[&str] = &["low", "medium", "high", "urgent"];
const PEOPLE: &[&str] = &[
    "alice@example.com",
    "bob@example.com",
    "carol@example.com",
    "dave@example.com",
    "erin@example.com",
];

/// A row of the original service's tickets table: ~400-500 bytes of JSON.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Ticket {
    /// Primary key.
    pub id: i64,
    /// Owning project.
    pub project_id: i64,
    /// One line.
    pub title: String,
    /// A few sentences, with escapes and non-ASCII now and then.
    pub description: String,
    /// Workflow state.
    pub status: String,
    /// Priority label.
    pub priority: String,
    /// Who works on it.
    pub assignee: String,
    /// Who filed it.
    pub reporter: String,
    /// RFC 3339 timestamp.
    pub created_at: String,
    /// RFC 3339 timestamp.
    pub updated_at: String,
    /// Estimated effort.
    pub estimate_hours: f64,
    /// Comma-separated labels.
    pub labels: String,
}

impl Ticket {
    /// The ticket with this `id` (the same for the same seed and id).
    pub fn generate(seed: u64, id: i64) -> Self {
        let mut rng = Rng::new(seed ^ (id as u64).wrapping_mul(0x2545_f491_4f6c_dd1d));
        let day = 1 + rng.below(28);
        let hour = rng.below(24);
        let title_words = 4 + rng.below(5) as usize;
        let description_words = 20 + rng.below(14) as usize;
        Ticket {
            id,
            project_id: 1 + rng.below(40) as i64,
            title: words(&mut rng, title_words),
            description: words(&mut rng, description_words),
            status: rng.pick(STATUSES).to_owned(),
            priority: rng.pick(PRIORITIES).to_owned(),
            assignee: rng.pick(PEOPLE).to_owned(),
            reporter: rng.pick(PEOPLE).to_owned(),
            created_at: format!("2024-03-{day:02}T{hour:02}:15:00Z"),
            updated_at: format!("2024-04-{day:02}T{hour:02}:45:30Z"),
            estimate_hours: (rng.below(400) as f64) / 8.0,
            labels: format!("{},{}", rng.pick(WORDS), rng.pick(PRIORITIES)),
        }
    }
}

/// A small item: ~60 bytes of JSON.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Small {
    /// Key.
    pub id: u64,
    /// A short name.
    pub name: String,
    /// A flag.
    pub ok: bool,
    /// A float.
    pub score: f64,
}

impl Small {
    /// The small item with this `id`.
    pub fn generate(seed: u64, id: u64) -> Self {
        let mut rng = Rng::new(seed ^ id.wrapping_mul(0x9e37_79b9));
        Small {
            id,
            name: format!(
                "{}-{}",
                rng.pick(WORDS).replace(['"', '\t', '\n'], ""),
                rng.below(1000)
            ),
            ok: rng.below(2) == 0,
            score: (rng.below(100_000) as f64) / 100.0,
        }
    }
}

/// A large item: ~8 KiB of JSON.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Large {
    /// Key.
    pub id: u64,
    /// One line.
    pub title: String,
    /// A long text (~7.5 KiB).
    pub body: String,
    /// A few numbers.
    pub samples: Vec<f64>,
}

impl Large {
    /// The large item with this `id`.
    pub fn generate(seed: u64, id: u64) -> Self {
        let mut rng = Rng::new(seed ^ id.wrapping_mul(0x5851_f42d_4c95_7f2d));
        let samples = (0..24)
            .map(|_| rng.below(1_000_000) as f64 / 1000.0)
            .collect();
        Large {
            id,
            title: words(&mut rng, 8),
            body: words(&mut rng, 1150),
            samples,
        }
    }
}

/// The three workloads of the design.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Workload {
    /// [`Ticket`] rows.
    Tickets,
    /// [`Small`] items.
    Small,
    /// [`Large`] items.
    Large,
}

impl Workload {
    /// All three, in report order.
    pub const ALL: [Workload; 3] = [Workload::Tickets, Workload::Small, Workload::Large];

    /// The name used in reports and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Tickets => "tickets",
            Workload::Small => "small",
            Workload::Large => "large",
        }
    }

    /// Parses [`name`](Workload::name).
    pub fn from_name(name: &str) -> Option<Self> {
        Workload::ALL.into_iter().find(|w| w.name() == name)
    }

    /// Items per request giving roughly `bytes` of JSON.
    pub fn items_for_bytes(self, bytes: usize) -> usize {
        let per_item = match self {
            Workload::Tickets => 450,
            Workload::Small => 60,
            Workload::Large => 8 * 1024,
        };
        (bytes / per_item).max(1)
    }
}

/// `n` tickets with ids `1..=n`.
pub fn tickets(n: usize) -> Vec<Ticket> {
    (1..=n as i64)
        .map(|id| Ticket::generate(SEED, id))
        .collect()
}

/// `n` small items.
pub fn small(n: usize) -> Vec<Small> {
    (0..n as u64).map(|id| Small::generate(SEED, id)).collect()
}

/// `n` large items.
pub fn large(n: usize) -> Vec<Large> {
    (0..n as u64).map(|id| Large::generate(SEED, id)).collect()
}

/// Leaks `items` for the life of the process: the streamer's sources must be
/// `'static`, and a leaked slice lets every contestant read the same items without a
/// clone or a reference count in the timed path.
pub fn leak<T>(items: Vec<T>) -> &'static [T] {
    Vec::leak(items)
}

/// Mean JSON size of `items`, in bytes.
pub fn mean_json_size<T: Serialize>(items: &[T]) -> usize {
    let total: usize = items
        .iter()
        .map(|item| serde_json::to_vec(item).map_or(0, |v| v.len()))
        .sum();
    total / items.len().max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_sized_as_the_design_says() {
        assert_eq!(tickets(50), tickets(50));
        let t = mean_json_size(&tickets(500));
        assert!((380..=520).contains(&t), "tickets {t} B");
        let s = mean_json_size(&small(500));
        assert!((45..=80).contains(&s), "small {s} B");
        let l = mean_json_size(&large(20));
        assert!((7 * 1024..=9 * 1024).contains(&l), "large {l} B");
    }
}
