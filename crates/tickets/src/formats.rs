//! The formats the tickets are served in, and how a request picks one.
//!
//! `GET /tickets` serves the same selection as a JSON array, NDJSON, CSV or Server-Sent
//! Events, chosen by content negotiation ([`chunkstream::negotiate`]): the `format`
//! query parameter when given (`json`, `ndjson`, `csv`, `sse`, or a media type), else
//! the `Accept` header with its q-values; no `Accept`, or `*/*`, is a JSON array. A
//! request nothing offered satisfies is a `406` whose JSON body lists the offered media
//! types. Two more ways to ask:
//!
//! - **A page** (the JSON envelope): `format=envelope`, or a request with `after`, no
//!   `format`, and an `Accept` that negotiates JSON (`/tickets?after=0&limit=100` is the
//!   first page; `format=json` keeps the bare array). The body is `{"data":[...],"count":N,"next":"ID","truncated":true}`:
//!   `count` and `next` are computed as the rows stream, `next` is the last ticket's id
//!   as a string (the `after` of the next page), `null` on the last page, and
//!   `truncated` says whether more rows follow. The query reads one row beyond the page
//!   to know ([`source::limit`]).
//! - **Routes of one format**: `/tickets.csv` (CSV with a header row) and
//!   `/tickets/events` (the event stream of [`events`](crate::events), which resumes
//!   after the `Last-Event-ID` header or the `last_event_id` query parameter).
//!   `/tickets.ndjson` is NDJSON as before.
//!
//! `after` narrows every format to the tickets with a greater id. `json=db` (the
//! database writes the JSON) serves only the JSON array and NDJSON: the other formats
//! need each row's fields. Failures after the first chunk: the SSE stream ends with
//! `event: error` and the envelope with an `"error"` field (the library's error
//! markers), then the transfer is aborted; a JSON array, NDJSON or CSV body is only
//! aborted, so it never looks complete.

use std::convert::Infallible;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use chunkstream::BoxError;
use chunkstream::format::{Csv, Envelope, Format};
use chunkstream::metrics::Probe;
use chunkstream::negotiate::{NotAcceptable, Offer, negotiate_headers};
use chunkstream::source;

use crate::db::Selection;
use crate::error::ApiError;
use crate::events::TicketEvents;
use crate::params::{CsvParams, EventsParams, JsonBy, Params, TicketsParams};
use crate::row::{CsvTicket, TicketRow};
use crate::{App, log_metrics, respond};

/// What `/tickets` offers to `Accept` and `format`, in this order (the first is what a
/// request without a preference gets).
pub const OFFERS: [Offer; 4] = [
    Offer::new("json", "application/json"),
    Offer::new("ndjson", "application/x-ndjson"),
    Offer::new("csv", "text/csv; charset=utf-8"),
    Offer::new("sse", "text/event-stream"),
];

/// What each of [`OFFERS`] serves.
const OFFERED: [Served; OFFERS.len()] = [Served::Json, Served::Ndjson, Served::Csv, Served::Events];

/// The `format` value that asks for a page (the JSON envelope).
pub const ENVELOPE: &str = "envelope";

/// The request header an `EventSource` resumes with.
pub const LAST_EVENT_ID: &str = "last-event-id";

/// A format the tickets are served in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Served {
    /// A JSON array.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// CSV with a header row.
    Csv,
    /// Server-Sent Events ([`TicketEvents`]).
    Events,
    /// A page: the JSON envelope with `count` and `next`.
    Page,
}

impl Served {
    /// The format `/tickets` answers a request with (see the module docs).
    ///
    /// # Errors
    ///
    /// `406` naming the offered media types when `format` names none of them, or
    /// `Accept` accepts none.
    pub fn choose(headers: &HeaderMap, params: &TicketsParams) -> Result<Served, ApiError> {
        let explicit = params
            .format
            .as_deref()
            .map(str::trim)
            .filter(|format| !format.is_empty());
        if explicit.is_some_and(|format| format.eq_ignore_ascii_case(ENVELOPE)) {
            return Ok(Served::Page);
        }
        let chosen = negotiate_headers(&OFFERS, headers, explicit).map_err(not_acceptable)?;
        let served = OFFERED
            .get(chosen)
            .copied()
            .ok_or_else(|| ApiError::internal(format!("negotiation chose offer {chosen}")))?;
        // A JSON request with a cursor is a page request.
        Ok(match served {
            Served::Json if params.after.is_some() && explicit.is_none() => Served::Page,
            served => served,
        })
    }
}

/// The service's `406`: the library's body (`error`, `message`, `offered`) in the
/// service's error shape (with the request id).
fn not_acceptable(refused: NotAcceptable) -> ApiError {
    let mut fields = serde_json::Map::new();
    fields.insert("offered".into(), refused.offered().into());
    ApiError::new(
        refused.status(),
        "not_acceptable",
        format!(
            "none of the offered media types is acceptable; ask for one with Accept or \
             with ?format= (json, ndjson, csv, sse or {ENVELOPE})"
        ),
    )
    .with_fields(fields)
}

/// The selection of a request's parameters.
fn selection(params: &TicketsParams) -> Selection {
    Selection {
        status: params.status.clone(),
        after: params.after,
        limit: params.limit,
    }
}

/// The ticket id an event stream resumes after: the `Last-Event-ID` header's, else the
/// `last_event_id` parameter's; `None` for a new stream.
///
/// # Errors
///
/// `400` when the header is not a ticket id.
fn resume_after(headers: &HeaderMap, params: &TicketsParams) -> Result<Option<i64>, ApiError> {
    let header = headers
        .get(LAST_EVENT_ID)
        .map(|value| {
            let text = value.to_str().unwrap_or_default().trim();
            match text {
                "" => Ok(None),
                text => text.parse::<i64>().map(Some).map_err(|_| {
                    ApiError::bad_request(
                        "invalid_last_event_id",
                        format!("Last-Event-ID: {text:?} is not a ticket id"),
                    )
                }),
            }
        })
        .transpose()?
        .flatten();
    Ok(header.or(params.last_event_id))
}

/// `GET /tickets`: the format [`Served::choose`] picks.
pub(crate) async fn tickets(
    State(app): State<App>,
    headers: HeaderMap,
    Params(params): Params<TicketsParams>,
) -> Result<Response, ApiError> {
    let served = Served::choose(&headers, &params)?;
    let json = params.json.unwrap_or_default();
    if json == JsonBy::Db && !matches!(served, Served::Json | Served::Ndjson) {
        return Err(ApiError::bad_request(
            "invalid_query",
            "json=db serves only the JSON array and NDJSON; the other formats need each \
             row's fields (leave json out, or use json=service)",
        ));
    }
    match served {
        Served::Json => app.list(app.json.clone(), selection(&params), json).await,
        Served::Ndjson => app.list(app.ndjson.clone(), selection(&params), json).await,
        Served::Csv => app.csv(selection(&params)).await,
        Served::Events => {
            let resume = resume_after(&headers, &params)?;
            app.events(selection(&params), resume).await
        }
        Served::Page => app.page(selection(&params)).await,
    }
}

/// `GET /tickets.csv`.
pub(crate) async fn tickets_csv(
    State(app): State<App>,
    Params(CsvParams(params)): Params<CsvParams>,
) -> Result<Response, ApiError> {
    app.csv(selection(&params)).await
}

/// `GET /tickets/events`.
pub(crate) async fn ticket_events(
    State(app): State<App>,
    headers: HeaderMap,
    Params(EventsParams(params)): Params<EventsParams>,
) -> Result<Response, ApiError> {
    let resume = resume_after(&headers, &params)?;
    app.events(selection(&params), resume).await
}

/// The tickets of `started` (a stream's selection from its start) up to and including
/// ticket `resume`: what the responses before a resumption sent. Two counts without a
/// limit, so a stream with a limit resumes without sending more than its limit.
async fn sent_before(
    conn: &mut crate::db::Conn,
    started: &Selection,
    resume: i64,
) -> Result<u64, ApiError> {
    let unlimited = |after| Selection {
        after,
        limit: None,
        ..started.clone()
    };
    let from_start = unlimited(started.after).count(conn).await;
    let after_resume = unlimited(Some(resume)).count(conn).await;
    let (from_start, after_resume) = (
        from_start.map_err(ApiError::internal)?,
        after_resume.map_err(ApiError::internal)?,
    );
    Ok(from_start.saturating_sub(after_resume))
}

impl App {
    /// The selected tickets as CSV with a header row (`tags` as stored, comma-separated).
    async fn csv(&self, selection: Selection) -> Result<Response, ApiError> {
        let streamer = self.json.clone().with_format(Csv::new());
        let (rows, probe, total) = self.ticket_rows::<TicketRow>(selection).await?;
        let chunks = streamer
            .stream(rows, |row| Ok::<_, Infallible>(CsvTicket(row)))
            .spawn()
            .observe_with(probe, log_metrics("tickets_csv"));
        respond(chunks, total).await
    }

    /// The selected tickets as events, at most
    /// [`events_per_connection`](crate::Settings::events_per_connection) of them; after
    /// ticket `resume` when the client resumes (`Last-Event-ID`).
    async fn events(
        &self,
        selection: Selection,
        resume: Option<i64>,
    ) -> Result<Response, ApiError> {
        let per_connection = self
            .settings
            .events_per_connection
            .filter(|&n| n > 0)
            .unwrap_or(u64::MAX);
        let started = selection.clone();
        let selection = Selection {
            after: resume.or(selection.after),
            ..selection
        };
        let (slot, mut conn, mut total) = self.open_stream(&selection).await?;
        let selection = match (resume, started.limit) {
            (Some(resume), Some(limit)) => {
                // The limit is the whole stream's: what the earlier responses sent counts.
                let sent = sent_before(&mut conn, &started, resume).await?;
                let left = limit.saturating_sub(sent);
                total = total.min(left);
                Selection {
                    limit: Some(left),
                    ..selection
                }
            }
            _ => selection,
        };
        let (rows, probe) = self.counted(selection.rows::<TicketRow, _>(conn, slot));
        let (rows, cut) = source::limit(rows, per_connection);
        let format = TicketEvents::new(cut).map_err(ApiError::internal)?;
        self.marked(format, rows, probe, "ticket_events", total)
            .await
    }

    /// One page of the selection in the JSON envelope: `limit` tickets (all without a
    /// limit), their `count`, and the `next` cursor when more follow.
    async fn page(&self, page: Selection) -> Result<Response, ApiError> {
        let (slot, conn, total) = self.open_stream(&page).await?;
        // One row beyond the page tells whether another page follows.
        let query = Selection {
            limit: page.limit.map(|limit| limit.saturating_add(1)),
            ..page.clone()
        };
        let (rows, probe) = self.counted(query.rows::<TicketRow, _>(conn, slot));
        let (rows, cut) = source::limit(rows, page.limit.unwrap_or(u64::MAX));
        let envelope = Envelope::new("data")
            .with_count("count")
            .with_cursor("next", |row: &TicketRow| row.id().to_string())
            .with_truncated("truncated", cut);
        self.marked(envelope, rows, probe, "tickets_page", total)
            .await
    }

    /// `rows` in `format`, a failure marked in the body, on a spawned task whose
    /// metrics are logged as `name`; `total` is the selection's count.
    async fn marked<F, S, E>(
        &self,
        format: F,
        rows: S,
        probe: Probe,
        name: &'static str,
        total: u64,
    ) -> Result<Response, ApiError>
    where
        F: Format,
        S: futures_util::Stream<Item = Result<TicketRow, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        let streamer = self
            .json
            .clone()
            .with_format(format)
            .with_error_markers(true);
        let chunks = streamer
            .stream(rows, chunkstream::transform::passthrough())
            .spawn()
            .observe_with(probe, log_metrics(name));
        respond(chunks, total).await
    }
}
