//! `GET /`: the demo page, which reads `/tickets/events` and `/tickets.ndjson` in the
//! browser and shows the rows arriving with a count.

use axum::response::Html;

/// The page's HTML, built into the binary.
pub const PAGE: &str = include_str!("page.html");

/// `GET /`: [`PAGE`] as `text/html; charset=utf-8`.
pub(crate) async fn index() -> Html<&'static str> {
    Html(PAGE)
}
