//! Query strings: each endpoint's parameters, refused with a `400` naming the problem
//! (unknown names included, so a typo like `limt=5` is not a full download).

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Earliest `as_of` accepted: 0001-01-01T00:00:00Z.
pub const MIN_AS_OF: i64 = -62_135_596_800;
/// Latest `as_of` accepted: 9999-12-31T23:59:59Z.
pub const MAX_AS_OF: i64 = 253_402_300_799;

/// A query string type and the parameter names it accepts.
pub trait QueryParams: DeserializeOwned {
    /// Every accepted name.
    const NAMES: &'static [&'static str];

    /// Checks values that parse but are out of range.
    ///
    /// # Errors
    ///
    /// A `400` naming the parameter and the accepted range.
    fn check(&self) -> Result<(), ApiError> {
        Ok(())
    }
}

/// The query string of `/tickets.ndjson`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct ListParams {
    /// At most this many tickets.
    pub limit: Option<u64>,
    /// Only tickets with this status.
    pub status: Option<String>,
    /// Who writes each ticket's JSON: the service (`json=service`, the default) or the
    /// database (`json=db`).
    pub json: Option<JsonBy>,
    /// Only tickets with an id greater than this.
    pub after: Option<i64>,
}

impl QueryParams for ListParams {
    const NAMES: &'static [&'static str] = &["limit", "status", "json", "after"];
}

/// The query string of `/tickets`, which serves every format, and of the routes of one
/// format ([`CsvParams`], [`EventsParams`]), which accept fewer names.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct TicketsParams {
    /// At most this many tickets (in a page: the page's size).
    pub limit: Option<u64>,
    /// Only tickets with this status.
    pub status: Option<String>,
    /// Who writes each ticket's JSON (JSON array and NDJSON only).
    pub json: Option<JsonBy>,
    /// Only tickets with an id greater than this: the `next` cursor of the page before.
    /// On `/tickets` without `format`, a request with `after` that negotiates JSON is
    /// answered with a page (the envelope).
    pub after: Option<i64>,
    /// The format, overriding `Accept`: `json`, `ndjson`, `csv`, `sse` (or their media
    /// types), or `envelope` (a page).
    pub format: Option<String>,
    /// SSE: resume after this ticket id, for clients that cannot set the
    /// `Last-Event-ID` header (which wins when both are given).
    pub last_event_id: Option<i64>,
}

impl QueryParams for TicketsParams {
    const NAMES: &'static [&'static str] = &[
        "limit",
        "status",
        "json",
        "after",
        "format",
        "last_event_id",
    ];
}

/// The query string of `/tickets.csv`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct CsvParams(pub TicketsParams);

impl QueryParams for CsvParams {
    const NAMES: &'static [&'static str] = &["limit", "status", "after"];
}

/// The query string of `/tickets/events`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct EventsParams(pub TicketsParams);

impl QueryParams for EventsParams {
    const NAMES: &'static [&'static str] = &["limit", "status", "after", "last_event_id"];
}

/// Who writes the tickets' JSON (`?json=` of `/tickets` and `/tickets.ndjson`).
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum JsonBy {
    /// The service decodes each row into a [`Ticket`](crate::model::Ticket) and encodes
    /// it with the configured encoder.
    #[default]
    Service,
    /// The database writes each row as JSON text (SQLite `json_object`, PostgreSQL
    /// `json_build_object`), which is copied into the body without being parsed.
    Db,
}

/// The query string of `/tickets/summary`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct SummaryParams {
    /// At most this many tickets.
    pub limit: Option<u64>,
    /// Only tickets with this status.
    pub status: Option<String>,
    /// "Now" for the summary formulas, in Unix seconds, from [`MIN_AS_OF`] to
    /// [`MAX_AS_OF`] (years 1 to 9999).
    pub as_of: Option<i64>,
}

impl QueryParams for SummaryParams {
    const NAMES: &'static [&'static str] = &["limit", "status", "as_of"];

    fn check(&self) -> Result<(), ApiError> {
        match self.as_of {
            Some(as_of) if !(MIN_AS_OF..=MAX_AS_OF).contains(&as_of) => Err(ApiError::bad_request(
                "invalid_query",
                format!(
                    "as_of: {as_of} is out of range; Unix seconds from {MIN_AS_OF} \
                         (0001-01-01) to {MAX_AS_OF} (9999-12-31) are accepted"
                ),
            )),
            _ => Ok(()),
        }
    }
}

/// The extractor: the parsed, checked query string, or a `400` JSON error.
#[derive(Clone, Debug)]
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: QueryParams> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
            .map_err(|rejection| ApiError::bad_request("invalid_query", rejection.body_text()))?;
        let mut unknown: Vec<&str> = pairs
            .iter()
            .map(|(name, _)| name.as_str())
            .filter(|name| !T::NAMES.contains(name))
            .collect();
        unknown.dedup();
        if !unknown.is_empty() {
            return Err(ApiError::bad_request(
                "unknown_parameter",
                format!(
                    "unknown query parameter{}: {}; this endpoint accepts {}",
                    if unknown.len() == 1 { "" } else { "s" },
                    unknown.join(", "),
                    T::NAMES.join(", ")
                ),
            ));
        }
        let Query(params) = Query::<T>::try_from_uri(&parts.uri)
            .map_err(|rejection| ApiError::bad_request("invalid_query", rejection.body_text()))?;
        params.check()?;
        Ok(Params(params))
    }
}
