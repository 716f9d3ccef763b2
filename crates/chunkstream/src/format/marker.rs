//! The error marker a format may write at the end of a failed body (SSE's `event: error`
//! data, the envelope's `"error"` field): a small JSON object saying what kind of failure
//! ended the body, never the error's details (which may name tables or hosts).
//!
//! A minimal version: it is replaced by the error-body work of issue 17 item 5.

use crate::error::StreamError;

/// Appends `{"kind":"<kind>","message":"<generic message>"}` for `err`.
pub(crate) fn write_error_marker(err: &StreamError, out: &mut Vec<u8>) {
    out.extend_from_slice(br#"{"kind":""#);
    out.extend_from_slice(err.kind().as_str().as_bytes());
    out.extend_from_slice(br#"","message":"the stream failed before its end"}"#);
}
