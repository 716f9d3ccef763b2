//! The schema and deterministic seeding (a SplitMix64 generator, no `rand`). The table's
//! columns, its `CREATE TABLE` and the batched inserts are `chunkstream_fixtures::sql`'s,
//! shared with the lab's table.

use chunkstream_fixtures::bind_fields;
use chunkstream_fixtures::sql::{self, SERVICE_TICKETS};

use crate::db::{Db, Dialect, on_pool};
use crate::model::{Ticket, format_rfc3339};

/// Columns, in the order of the schema, the inserts and [`Ticket`].
pub const COLUMNS: &str = "id, title, description, status, priority, assignee, reporter, tags, \
     project, component, sla_hours, estimate_hours, comments, created_at, updated_at, resolved_at";

/// `?status=` with `ORDER BY id`, and its count, read this index instead of the table.
const STATUS_INDEX: &str = "CREATE INDEX IF NOT EXISTS tickets_status_id ON tickets (status, id)";

/// The statement that creates the table in `dialect` if it is not there: `id` is
/// `INTEGER PRIMARY KEY` on SQLite (an alias of the row key, so `ORDER BY id` walks the
/// table in its own order) and `BIGINT PRIMARY KEY` on PostgreSQL.
pub fn schema(dialect: Dialect) -> String {
    match dialect {
        Dialect::Sqlite => sql::create_table::<sqlx::Sqlite>("tickets", SERVICE_TICKETS),
        Dialect::Postgres => sql::create_table::<sqlx::Postgres>("tickets", SERVICE_TICKETS),
    }
}

/// What [`seed`] found or did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seeded {
    /// Tickets in the table now.
    pub rows: u64,
    /// Whether this call inserted them (`false`: the table had rows already).
    pub inserted: bool,
}

/// All seeded tickets were created before this instant (2023-11-14T22:13:20Z).
pub const SEED_EPOCH: i64 = 1_700_000_000;

// The seeded generator, shared with the benches' workloads.
pub use chunkstream_fixtures::SplitMix64;

const STATUSES: &[&str] = &[
    "open",
    "open",
    "in_progress",
    "blocked",
    "resolved",
    "closed",
];
const PRIORITIES: &[&str] = &["low", "medium", "medium", "high", "critical"];
const PEOPLE: &[&str] = &[
    "ada.lovelace",
    "alan.turing",
    "grace.hopper",
    "edsger.dijkstra",
    "barbara.liskov",
    "donald.knuth",
    "margaret.hamilton",
    "ken.thompson",
    "frances.allen",
    "john.backus",
];
const PROJECTS: &[&str] = &[
    "billing",
    "checkout",
    "search",
    "mobile",
    "platform",
    "reporting",
];
const COMPONENTS: &[&str] = &[
    "api", "database", "frontend", "auth", "payments", "infra", "export",
];
const TAGS: &[&str] = &[
    "bug",
    "regression",
    "customer",
    "performance",
    "security",
    "ux",
    "flaky",
    "p1",
    "backend",
    "data",
];
const VERBS: &[&str] = &[
    "fails",
    "times out",
    "returns stale data",
    "crashes",
    "is slow",
    "loses state",
];
const THINGS: &[&str] = &[
    "invoice export",
    "login form",
    "search results page",
    "payment retry",
    "nightly report",
    "user settings",
    "order history",
    "webhook delivery",
];
const DETAILS: &[&str] = &[
    "Steps to reproduce: open the page, apply two filters and wait for the refresh.",
    "Observed after the last deploy; the logs show a connection reset from the upstream.",
    "Customers on the enterprise plan are affected most; support has three tickets open.",
    "The request succeeds on retry, which suggests a race between the cache and the writer.",
    "Happens only with more than ten thousand rows; smaller accounts are not affected.",
];

/// The SLA target in hours for a priority.
pub fn sla_hours(priority: &str) -> i64 {
    match priority {
        "critical" => 4,
        "high" => 24,
        "medium" => 72,
        _ => 168,
    }
}

/// The ticket with this `id` (from 1): the same on every run.
pub fn ticket(id: i64) -> Ticket {
    let mut rng = SplitMix64::new(0x7163_6b74 ^ (id as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
    let status = rng.pick(STATUSES);
    let priority = rng.pick(PRIORITIES);
    let created = SEED_EPOCH - rng.below(365 * 86_400) as i64;
    let updated = created + rng.below((SEED_EPOCH - created) as u64 + 1) as i64;
    let resolved = crate::model::is_done(status).then(|| format_rfc3339(updated));
    let mut tags: Vec<&str> = (0..1 + rng.below(3)).map(|_| rng.pick(TAGS)).collect();
    tags.sort_unstable();
    tags.dedup();
    let (verb, thing) = (rng.pick(VERBS), rng.pick(THINGS));
    Ticket {
        id,
        title: format!("The {thing} {verb} (#{id})"),
        description: format!("The {thing} {verb} for some users. {}", rng.pick(DETAILS)),
        status: status.to_owned(),
        priority: priority.to_owned(),
        assignee: (rng.below(5) != 0).then(|| rng.pick(PEOPLE).to_owned()),
        reporter: rng.pick(PEOPLE).to_owned(),
        tags: tags.join(","),
        project: rng.pick(PROJECTS).to_owned(),
        component: rng.pick(COMPONENTS).to_owned(),
        sla_hours: sla_hours(priority),
        estimate_hours: (1 + rng.below(80)) as f64 / 2.0,
        comments: rng.below(25) as i64,
        created_at: format_rfc3339(created),
        updated_at: format_rfc3339(updated),
        resolved_at: resolved,
    }
}

/// Creates the table (see [`schema`]) and its index if needed and, if the table is
/// empty, fills it with tickets `1..=n` (see [`insert`]). A table that has rows is left
/// as it is, whatever `n`.
///
/// # Errors
///
/// The database's error.
pub async fn seed(db: &Db, n: u64) -> Result<Seeded, sqlx::Error> {
    db.execute(&schema(db.dialect())).await?;
    db.execute(STATUS_INDEX).await?;
    let existing: i64 = on_pool!(db, pool => {
        sqlx::query_scalar("SELECT COUNT(*) FROM tickets")
            .fetch_one(pool)
            .await?
    });
    if existing > 0 {
        return Ok(Seeded {
            rows: existing as u64,
            inserted: false,
        });
    }
    tracing::info!(tickets = n, "seeding an empty tickets table");
    let started = std::time::Instant::now();
    insert(db, (1..=n as i64).map(ticket)).await?;
    tracing::info!(
        elapsed_secs = started.elapsed().as_secs_f64(),
        "seeded {n} tickets"
    );
    Ok(Seeded {
        rows: n,
        inserted: true,
    })
}

/// Inserts `tickets` into the table in one transaction, [`ROWS_PER_INSERT`] rows per
/// statement, logging progress at `INFO` about every second (out of the iterator's
/// size hint). Nothing is inserted if any statement fails.
///
/// # Errors
///
/// The database's error (a duplicate `id`, for instance).
pub async fn insert<I>(db: &Db, tickets: I) -> Result<(), sqlx::Error>
where
    I: IntoIterator<Item = Ticket>,
    I::IntoIter: Send,
{
    let tickets = tickets.into_iter();
    let total = tickets.size_hint().0;
    let mut reported = std::time::Instant::now();
    let progress = move |done: usize| {
        if reported.elapsed() >= std::time::Duration::from_secs(1) {
            reported = std::time::Instant::now();
            tracing::info!("seeding: {done} of {total} tickets");
        }
    };
    on_pool!(db, pool => {
        sql::insert(pool, "tickets", SERVICE_TICKETS, tickets, ROWS_PER_INSERT, |q, t| {
            bind_fields!(q, t;
                id, title, description, status, priority, assignee, reporter, tags, project,
                component, sla_hours, estimate_hours, comments, created_at, updated_at,
                resolved_at
            )
        }, progress)
        .await
    })
}

/// Rows per `INSERT` of [`insert`] (16 parameters each; well under SQLite's and
/// PostgreSQL's limits).
pub const ROWS_PER_INSERT: usize = 500;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_column_list_is_the_tables() {
        assert_eq!(COLUMNS, sql::column_list(SERVICE_TICKETS));
    }

    #[test]
    fn deterministic_and_sized_like_the_original() {
        // A ticket is a function of its id alone: the 42nd ticket seeded in a batch of
        // rows is the one made on its own, and other ids give other tickets.
        let rows: Vec<Ticket> = (1..=100).map(ticket).collect();
        assert_eq!(rows[41], ticket(42));
        assert_eq!(ticket(42).id, 42);
        assert_ne!(ticket(42), ticket(43));
        let sizes: Vec<usize> = (1..=1000)
            .map(|id| serde_json::to_vec(&ticket(id)).unwrap().len())
            .collect();
        let mean = sizes.iter().sum::<usize>() / sizes.len();
        assert!((380..=520).contains(&mean), "mean row size {mean}");
        // What counts as a small request assumes this (`crate::ROW_BUDGET`).
        let largest = sizes.iter().max().unwrap();
        assert!(*largest <= crate::ROW_BUDGET, "largest row {largest}");
    }
}
