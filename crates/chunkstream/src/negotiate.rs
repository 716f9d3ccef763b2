//! Content negotiation: which of the formats a handler offers a request asks for, from
//! its `Accept` header (RFC 9110, section 12.5.1) and an explicit override such as a
//! query parameter `?format=ndjson`.
//!
//! A handler offers formats by name and media type ([`Offer`]), so it can offer any
//! format, its own included; [`negotiate`] answers with the index of the chosen offer,
//! which the handler maps to its format, or with [`NotAcceptable`] (`406`, with a JSON
//! body listing what is offered).
//!
//! # Examples
//!
//! ```
//! use chunkstream::negotiate::{Offer, negotiate};
//!
//! const OFFERS: [Offer; 2] = [
//!     Offer::new("json", "application/json"),
//!     Offer::new("ndjson", "application/x-ndjson"),
//! ];
//! // No `Accept`, or `*/*`: the first offer.
//! assert_eq!(negotiate(&OFFERS, None, None), Ok(0));
//! assert_eq!(negotiate(&OFFERS, Some("*/*"), None), Ok(0));
//! // The client's preference, by q-value.
//! assert_eq!(negotiate(&OFFERS, Some("application/json;q=0.5, application/x-ndjson"), None), Ok(1));
//! // The explicit override wins over `Accept`.
//! assert_eq!(negotiate(&OFFERS, Some("application/json"), Some("ndjson")), Ok(1));
//! // Nothing offered fits: 406.
//! let refused = negotiate(&OFFERS, Some("text/csv"), None).unwrap_err();
//! assert_eq!(refused.status(), http::StatusCode::NOT_ACCEPTABLE);
//! assert_eq!(refused.offered(), ["application/json", "application/x-ndjson"]);
//! ```

use std::fmt;

use http::StatusCode;
use http::header::{ACCEPT, HeaderMap};

/// A format a handler offers: a short name (what an explicit override names, such as
/// `ndjson` in `?format=ndjson`) and its media type (what `Accept` names, parameters
/// allowed: `text/csv; charset=utf-8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Offer {
    name: &'static str,
    media_type: &'static str,
}

impl Offer {
    /// An offer named `name` with the media type `media_type`.
    pub const fn new(name: &'static str, media_type: &'static str) -> Self {
        Offer { name, media_type }
    }

    /// The name an explicit override uses.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The media type, as given.
    pub fn media_type(&self) -> &'static str {
        self.media_type
    }
}

/// Picks one of `offers` for a request: the index of the chosen offer.
///
/// - `explicit` (a query parameter's value, say), when given and not empty, takes
///   precedence: it names an offer by its name or its media type (`type/subtype`, without
///   parameters), ASCII case ignored.
/// - Otherwise `accept`, the `Accept` header's value: each offer gets the q-value of the
///   most specific media range that matches it (`type/subtype` with parameters, then
///   `type/subtype`, then `type/*`, then `*/*`; a range's parameters must all be among
///   the offer's). `q=0` means "not acceptable". The offer with the highest q-value wins;
///   on a tie, the one matched by the more specific range (`application/x-ndjson, */*`
///   picks NDJSON), then the one offered first.
/// - No `Accept`, an empty one, or one with no valid media range gives the first offer
///   (the header is disregarded, as RFC 9110 allows). Invalid ranges in a header with
///   valid ones are skipped. No input makes it panic.
///
/// # Errors
///
/// [`NotAcceptable`], listing the offered media types, when `explicit` names no offer,
/// when no offer has a q-value above 0, or when `offers` is empty.
///
/// # Examples
///
/// ```
/// use chunkstream::negotiate::{Offer, negotiate};
///
/// let offers = [
///     Offer::new("json", "application/json"),
///     Offer::new("csv", "text/csv; charset=utf-8"),
/// ];
/// assert_eq!(negotiate(&offers, Some("text/*"), None), Ok(1));
/// assert_eq!(negotiate(&offers, Some("*/*, application/json;q=0"), None), Ok(1));
/// assert!(negotiate(&offers, Some("text/csv;charset=latin1"), None).is_err());
/// ```
pub fn negotiate(
    offers: &[Offer],
    accept: Option<&str>,
    explicit: Option<&str>,
) -> Result<usize, NotAcceptable> {
    let refused = || NotAcceptable {
        offered: offers.iter().map(Offer::media_type).collect(),
    };
    if offers.is_empty() {
        return Err(refused());
    }
    if let Some(wanted) = explicit.map(str::trim).filter(|wanted| !wanted.is_empty()) {
        return offers
            .iter()
            .position(|offer| {
                offer.name.eq_ignore_ascii_case(wanted)
                    || MediaRange::parse(offer.media_type).is_some_and(|media| {
                        wanted.eq_ignore_ascii_case(&format!("{}/{}", media.ty, media.sub))
                    })
            })
            .ok_or_else(refused);
    }
    let ranges: Vec<MediaRange<'_>> = accept
        .into_iter()
        .flat_map(|accept| split_outside_quotes(accept, b','))
        .filter_map(MediaRange::parse)
        .collect();
    if ranges.is_empty() {
        return Ok(0);
    }
    // Each offer's (q-value, specificity of the range that gave it); the best wins, the
    // first offered on a tie (`max_by_key` keeps the last, hence the reversed index).
    offers
        .iter()
        .enumerate()
        .filter_map(|(index, offer)| {
            let media = MediaRange::parse(offer.media_type)?;
            let (specificity, q) = ranges
                .iter()
                .filter_map(|range| range.matches(&media).map(|spec| (spec, range.q)))
                // The most specific range decides; among equals, the first listed.
                .fold(None, |best: Option<(usize, u16)>, (spec, q)| match best {
                    Some((best_spec, _)) if best_spec >= spec => best,
                    _ => Some((spec, q)),
                })?;
            (q > 0).then_some((q, specificity, std::cmp::Reverse(index)))
        })
        .max()
        .map(|(_, _, std::cmp::Reverse(index))| index)
        .ok_or_else(refused)
}

/// [`negotiate`] with the `Accept` header(s) of `headers` (several `Accept` lines count as
/// one list; a value that is not visible ASCII is disregarded).
///
/// # Errors
///
/// As [`negotiate`].
///
/// # Examples
///
/// ```
/// use chunkstream::negotiate::{Offer, negotiate_headers};
///
/// let offers = [Offer::new("json", "application/json"), Offer::new("ndjson", "application/x-ndjson")];
/// let mut headers = http::HeaderMap::new();
/// headers.insert(http::header::ACCEPT, http::HeaderValue::from_static("application/x-ndjson"));
/// assert_eq!(negotiate_headers(&offers, &headers, None), Ok(1));
/// ```
pub fn negotiate_headers(
    offers: &[Offer],
    headers: &HeaderMap,
    explicit: Option<&str>,
) -> Result<usize, NotAcceptable> {
    let accept: Vec<&str> = headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect();
    let accept = (!accept.is_empty()).then(|| accept.join(","));
    negotiate(offers, accept.as_deref(), explicit)
}

/// No offered format is acceptable to the request: answer `406 Not Acceptable` with
/// [`body`](NotAcceptable::body), a JSON object listing the offered media types. With
/// the `axum` feature it is an `IntoResponse`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotAcceptable {
    offered: Vec<&'static str>,
}

impl NotAcceptable {
    /// The media types offered, in the handler's order.
    pub fn offered(&self) -> &[&'static str] {
        &self.offered
    }

    /// `406 Not Acceptable`.
    pub fn status(&self) -> StatusCode {
        StatusCode::NOT_ACCEPTABLE
    }

    /// The JSON body: `{"error":"not_acceptable","message":...,"offered":[...]}`.
    ///
    /// # Examples
    ///
    /// ```
    /// use chunkstream::negotiate::{Offer, negotiate};
    ///
    /// let refused = negotiate(&[Offer::new("json", "application/json")], Some("text/html"), None).unwrap_err();
    /// let body: serde_json::Value = serde_json::from_str(&refused.body()).unwrap();
    /// assert_eq!(body["offered"], serde_json::json!(["application/json"]));
    /// ```
    pub fn body(&self) -> String {
        serde_json::json!({
            "error": "not_acceptable",
            "message": "none of the offered media types is acceptable",
            "offered": self.offered,
        })
        .to_string()
    }

    /// The whole answer: the status, `Content-Type: application/json` and the body.
    pub fn to_response(&self) -> http::Response<String> {
        crate::response::json_response(self.status(), self.body())
    }
}

impl fmt::Display for NotAcceptable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "none of the offered media types is acceptable (offered: {})",
            self.offered.join(", ")
        )
    }
}

impl std::error::Error for NotAcceptable {}

cfg_feature! { "axum",
    impl axum::response::IntoResponse for NotAcceptable {
        fn into_response(self) -> axum::response::Response {
            self.to_response().map(axum::body::Body::from)
        }
    }
}

/// A media range of `Accept` (or an offer's media type): type, subtype, parameters and
/// q-value in thousandths (1000 when absent).
#[derive(Debug)]
struct MediaRange<'a> {
    ty: &'a str,
    sub: &'a str,
    params: Vec<(&'a str, &'a str)>,
    q: u16,
}

impl<'a> MediaRange<'a> {
    /// Parses one element of the list; `None` when it is no valid media range.
    fn parse(element: &'a str) -> Option<Self> {
        let mut parts = split_outside_quotes(element, b';').into_iter();
        let (ty, sub) = parts.next()?.trim().split_once('/')?;
        let (ty, sub) = (ty.trim(), sub.trim());
        if !is_token(ty) || !is_token(sub) || (ty == "*" && sub != "*") {
            return None;
        }
        let mut params = Vec::new();
        let mut q = 1000;
        for part in parts {
            let (name, value) = part.split_once('=')?;
            let (name, value) = (name.trim(), value.trim());
            if !is_token(name) {
                return None;
            }
            if name.eq_ignore_ascii_case("q") {
                q = parse_q(value)?;
                break; // what follows the weight is an accept-extension: not the type's
            }
            params.push((name, value.trim_matches('"')));
        }
        Some(MediaRange { ty, sub, params, q })
    }

    /// The specificity with which this range matches `offer`, if it does.
    fn matches(&self, offer: &MediaRange<'_>) -> Option<usize> {
        let base = if self.ty == "*" {
            0
        } else if !self.ty.eq_ignore_ascii_case(offer.ty) {
            return None;
        } else if self.sub == "*" {
            1
        } else if self.sub.eq_ignore_ascii_case(offer.sub) {
            2
        } else {
            return None;
        };
        let all_params = self.params.iter().all(|(name, value)| {
            offer
                .params
                .iter()
                .any(|(n, v)| n.eq_ignore_ascii_case(name) && v.eq_ignore_ascii_case(value))
        });
        all_params.then_some(base + self.params.len())
    }
}

/// An RFC 9110 `qvalue` (`0`, `0.5`, `1.000`...) in thousandths.
fn parse_q(value: &str) -> Option<u16> {
    let (int, frac) = value.split_once('.').unwrap_or((value, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = frac.bytes().chain(std::iter::repeat(b'0')).take(3);
    let frac = thousandths.fold(0u16, |acc, digit| acc * 10 + u16::from(digit - b'0'));
    match int {
        "0" => Some(frac),
        "1" if frac == 0 => Some(1000),
        _ => None,
    }
}

/// An RFC 9110 token (or `*`): one or more of its characters.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Splits `s` at `sep` where it is not inside a quoted string (a parameter value may hold
/// `,` or `;`).
fn split_outside_quotes(s: &str, sep: u8) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, b) in s.bytes().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            _ if b == sep && !quoted => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}
