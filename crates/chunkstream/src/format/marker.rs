//! The error marker: the JSON object a failed body may end with, shared by every format
//! that writes one (NDJSON's last line, and the others' own framing around it).

use crate::error::{StreamError, new_error_id};
use crate::trace;

/// Writes the error marker's JSON object for `err`, with nothing around it:
/// `{"kind":"source","message":"the source of the stream failed","id":"9f2c…"}`.
///
/// The object carries the error's kind, the kind's generic message
/// ([`ErrorKind::message`](crate::ErrorKind::message)) and a new id, never the source's
/// own text; the detail goes to the log (`WARN`, with the `tracing` feature) under the
/// same id, so an operator finds the cause from what a client reports.
pub(crate) fn write_error_marker(err: &StreamError, out: &mut Vec<u8>) {
    let id = new_error_id();
    trace::reported(
        &id,
        err,
        "stream failed after its first chunk; the body ends with an error marker",
    );
    let kind = err.kind();
    // Kind, message and id are fixed ASCII text without quotes or backslashes (a test
    // parses every kind's marker back), so they need no escaping.
    out.extend_from_slice(b"{\"kind\":\"");
    out.extend_from_slice(kind.as_str().as_bytes());
    out.extend_from_slice(b"\",\"message\":\"");
    out.extend_from_slice(kind.message().as_bytes());
    out.extend_from_slice(b"\",\"id\":\"");
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(b"\"}");
}
