//! The tickets rows, their summary, and the formulas that derive it.

use serde::{Serialize, Serializer};

/// One ticket, as stored and as served by `GET /tickets` (about 450 bytes of JSON).
#[derive(Clone, Debug, PartialEq, sqlx::FromRow, Serialize)]
pub struct Ticket {
    /// Unique, from 1.
    pub id: i64,
    /// One line.
    pub title: String,
    /// A few sentences.
    pub description: String,
    /// `open`, `in_progress`, `blocked`, `resolved` or `closed`.
    pub status: String,
    /// `low`, `medium`, `high` or `critical`.
    pub priority: String,
    /// Who works on it, if anyone.
    pub assignee: Option<String>,
    /// Who filed it.
    pub reporter: String,
    /// Labels, stored comma-separated, served as a JSON array.
    #[serde(serialize_with = "serialize_tags")]
    pub tags: String,
    /// The project it belongs to.
    pub project: String,
    /// The component it is about.
    pub component: String,
    /// Hours allowed before the service-level target is missed.
    pub sla_hours: i64,
    /// Estimated work, in hours.
    pub estimate_hours: f64,
    /// Number of comments.
    pub comments: i64,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// RFC 3339, UTC.
    pub updated_at: String,
    /// RFC 3339, UTC, once resolved.
    pub resolved_at: Option<String>,
}

fn serialize_tags<S: Serializer>(tags: &str, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(tags.split(',').filter(|tag| !tag.is_empty()))
}

/// A ticket with the derived fields of `GET /tickets/summary` (the original service's
/// "formulas").
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct Summary {
    /// The ticket's id.
    pub id: i64,
    /// Its title.
    pub title: String,
    /// Its status.
    pub status: String,
    /// Its priority.
    pub priority: String,
    /// Its assignee.
    pub assignee: Option<String>,
    /// Whole days since it was created (until resolution, for resolved tickets).
    pub age_days: i64,
    /// Whether it missed its target: still open past `sla_hours`, or resolved after it.
    pub sla_breached: bool,
    /// Hours left before the target (negative once missed); `None` once resolved.
    pub sla_remaining_hours: Option<i64>,
    /// `weight(priority) * (1 + age_days / 7)`, doubled when the target is missed, plus
    /// one point per comment; 0 for resolved and closed tickets.
    pub priority_score: f64,
}

/// Whether `status` counts as done.
pub fn is_done(status: &str) -> bool {
    matches!(status, "resolved" | "closed")
}

/// The weight of a priority in [`Summary::priority_score`].
pub fn priority_weight(priority: &str) -> f64 {
    match priority {
        "critical" => 8.0,
        "high" => 4.0,
        "medium" => 2.0,
        _ => 1.0,
    }
}

/// Derives the summary of `ticket` as of `now` (Unix seconds). Fails if a timestamp is
/// not RFC 3339 as the service writes it.
pub fn summarize(ticket: &Ticket, now: i64) -> Result<Summary, BadTimestamp> {
    let created = parse_rfc3339(&ticket.created_at)?;
    let resolved = ticket
        .resolved_at
        .as_deref()
        .map(parse_rfc3339)
        .transpose()?;
    let end = resolved.unwrap_or(now);
    let age_hours = end.saturating_sub(created).max(0) / 3600;
    let done = is_done(&ticket.status);
    let sla_breached = age_hours > ticket.sla_hours;
    let age_days = age_hours / 24;
    let priority_score = if done {
        0.0
    } else {
        let base = priority_weight(&ticket.priority) * (1.0 + age_days as f64 / 7.0);
        let base = if sla_breached { base * 2.0 } else { base };
        ((base + ticket.comments as f64) * 100.0).round() / 100.0
    };
    Ok(Summary {
        id: ticket.id,
        title: ticket.title.clone(),
        status: ticket.status.clone(),
        priority: ticket.priority.clone(),
        assignee: ticket.assignee.clone(),
        age_days,
        sla_breached,
        sla_remaining_hours: (!done).then(|| ticket.sla_hours.saturating_sub(age_hours)),
        priority_score,
    })
}

/// A timestamp that is not `YYYY-MM-DDTHH:MM:SSZ`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadTimestamp(pub String);

impl std::fmt::Display for BadTimestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not an RFC 3339 UTC timestamp: {:?}", self.0)
    }
}

impl std::error::Error for BadTimestamp {}

/// Formats Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_rfc3339(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Parses `YYYY-MM-DDTHH:MM:SSZ` into Unix seconds.
pub fn parse_rfc3339(s: &str) -> Result<i64, BadTimestamp> {
    let bad = || BadTimestamp(s.to_owned());
    let b = s.as_bytes();
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[19] != b'Z' {
        return Err(bad());
    }
    let num = |range: std::ops::Range<usize>| -> Result<i64, BadTimestamp> {
        s.get(range)
            .and_then(|part| part.parse().ok())
            .ok_or_else(bad)
    };
    let days = days_from_civil(num(0..4)?, num(5..7)?, num(8..10)?);
    Ok(days * 86_400 + num(11..13)? * 3600 + num(14..16)? * 60 + num(17..19)?)
}

// Howard Hinnant's civil calendar algorithms.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip() {
        for secs in [0, 951_782_400, 1_700_000_000, 1_709_251_199] {
            assert_eq!(parse_rfc3339(&format_rfc3339(secs)), Ok(secs));
        }
        assert_eq!(format_rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert!(parse_rfc3339("2023-11-14 22:13:20").is_err());
    }
}
