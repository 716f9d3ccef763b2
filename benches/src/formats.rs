//! The formats beyond JSON arrays and NDJSON, measured on the tickets: CSV, a JSON
//! envelope with fields before and after the array, and SSE with an event name and an
//! id per item. For each: chunkstream's format as measured, its limit, and the value its
//! bodies are checked against.
//!
//! Each format's limit is the plainest code that writes the same body into one `Vec`:
//! - CSV: the same CSV writer chunkstream's [`Csv`] is (its own serde serializer),
//!   driven through [`Format`] over the whole slice into one `Vec`: no pool, no chunks;
//! - envelope and SSE: the encoder's limit (its library's one `to_writer` of the slice;
//!   for SSE, of each item, since each is an event) plus the framing written the
//!   straightforward way (`write!` and `extend_from_slice`) into the same `Vec`.
//!
//! The lab measures them with the encoder of chunkstream's default features (sonic-rs),
//! the one a service gets, and its library in the limit.

use std::io::Write as _;

use chunkstream::format::{Csv, Envelope, Sse};
use chunkstream::{BoxError, ChunkConfig, Format, encode::SerdeJson};
use serde_json::{Value, json};

use crate::contestants::{EncoderKind, PoolKind};
use crate::peers;
use crate::scenario::{self, Built, Framing, Limit, Path};
use crate::workload::Ticket;

/// The formats measured here, in report order.
pub const FORMATS: [Framing; 3] = [Framing::Csv, Framing::Envelope, Framing::Sse];

/// The envelope's array field.
pub const ARRAY: &str = "data";
/// The envelope's field before the array: the query a page answers, as JSON.
const QUERY: &str = r#"{"status":"open","after":0}"#;
/// The SSE events' name.
const EVENT: &str = "ticket";

/// The envelope's fields before the array, as an object.
pub fn envelope_fields() -> Value {
    json!({ "query": serde_json::from_str::<Value>(QUERY).unwrap_or_default() })
}

/// chunkstream streaming the tickets of `items` from memory in `framing` (direct path,
/// default configuration): `{"query":..,"data":[..],"count":N,"next":ID}` for the
/// envelope (the cursor taken from the last item), `event: ticket`, `id: ID` and the
/// item's JSON as `data` for SSE.
///
/// # Errors
///
/// When `framing` is not one of [`FORMATS`].
pub fn chunkstream(
    framing: Framing,
    pool: PoolKind,
    encoder: EncoderKind,
    items: &'static [Ticket],
) -> Result<Built, BoxError> {
    let config = ChunkConfig::default();
    let source = move || peers::memory(items);
    // The items are `&'static Ticket`s: the closures taking a cursor or an id take those.
    Ok(match framing {
        Framing::Csv => {
            scenario::chunkstream(pool, encoder, &config, Csv::new(), Path::Item, source)
        }
        Framing::Envelope => {
            let envelope = Envelope::new(ARRAY)
                .with_fields(&envelope_fields())?
                .with_count("count")
                .with_cursor("next", |t: &&'static Ticket| t.id);
            scenario::chunkstream(pool, encoder, &config, envelope, Path::Item, source)
        }
        Framing::Sse => {
            let sse = Sse::new()
                .with_event(EVENT)?
                .with_id(|t: &&'static Ticket| t.id);
            scenario::chunkstream(pool, encoder, &config, sse, Path::Item, source)
        }
        other => return Err(format!("{} is measured as JSON", other.name()).into()),
    })
}

/// The limit of `framing` on `items` (see the module's documentation).
pub fn limit(framing: Framing, encoder: EncoderKind, items: &'static [Ticket]) -> Limit {
    let size = serde_json::to_vec(items).map_or(0, |v| v.len());
    Limit::writing(size, move |buf| write_limit(framing, encoder, items, buf))
}

/// Writes the limit's body of `items` in `framing` into `buf`.
fn write_limit(
    framing: Framing,
    encoder: EncoderKind,
    items: &[Ticket],
    buf: &mut Vec<u8>,
) -> Result<(), BoxError> {
    match framing {
        Framing::Csv => {
            let mut csv = Csv::new();
            csv.open(buf);
            for item in items {
                csv.write_value(item, &SerdeJson, buf)?;
            }
            csv.close(items.len() as u64, buf);
        }
        Framing::Envelope => {
            write!(buf, r#"{{"query":{QUERY},"{ARRAY}":"#)?;
            scenario::encode_whole(encoder, items, buf)?;
            write!(buf, r#","count":{},"next":"#, items.len())?;
            serde_json::to_writer(&mut *buf, &items.last().map(|t| t.id))?;
            buf.push(b'}');
        }
        Framing::Sse => {
            for t in items {
                write!(buf, "event: {EVENT}\nid: {}\ndata: ", t.id)?;
                scenario::encode_whole(encoder, t, buf)?;
                buf.extend_from_slice(b"\n\n");
            }
        }
        Framing::Array | Framing::Ndjson => scenario::encode_whole(encoder, items, buf)?,
    }
    Ok(())
}

/// What a body of `items` in `framing` parses to ([`scenario::parse_body`]), built
/// without chunkstream: CSV as the `csv` crate writes it (header row, `\r\n`); the
/// envelope with its fields after the array when `after` (chunkstream's), without them
/// otherwise (axum-streams' has none); SSE's events from the items.
///
/// # Errors
///
/// When the items cannot be serialized.
pub fn reference(framing: Framing, items: &[Ticket], after: bool) -> Result<Value, BoxError> {
    Ok(match framing {
        Framing::Csv => {
            let mut writer = csv::WriterBuilder::new()
                .terminator(csv::Terminator::CRLF)
                .from_writer(Vec::new());
            for item in items {
                writer.serialize(item)?;
            }
            scenario::parse_body(Framing::Csv, &writer.into_inner()?)?
        }
        Framing::Envelope => {
            let mut object = envelope_fields();
            object[ARRAY] = serde_json::to_value(items)?;
            if after {
                object["count"] = items.len().into();
                object["next"] = items.last().map(|t| t.id).into();
            }
            object
        }
        Framing::Sse => items
            .iter()
            .map(|t| Ok(json!({ "event": EVENT, "id": t.id.to_string(), "data": t })))
            .collect::<Result<_, BoxError>>()?,
        Framing::Array | Framing::Ndjson => scenario::reference(items)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{Streaming, check};
    use crate::workload;

    /// chunkstream, the limit and the axum-streams peer of each format write bodies
    /// that parse to the reference; a body of another format does not.
    #[test]
    fn every_format_contestant_matches_its_reference() -> Result<(), BoxError> {
        let items = workload::leak(workload::tickets(300));
        let rt = tokio::runtime::Builder::new_current_thread().build()?;
        rt.block_on(async {
            for framing in FORMATS {
                let expected = reference(framing, items, true)?;
                for encoder in [EncoderKind::SerdeJson, EncoderKind::SonicRs] {
                    let built = chunkstream(framing, PoolKind::Freelist, encoder, items)?;
                    check(&mut Streaming(built.chunks), framing, &expected).await?;
                    check(&mut limit(framing, encoder, items), framing, &expected).await?;
                    let other = reference(framing, &items[1..], true)?;
                    let mut wrong = limit(framing, encoder, items);
                    assert!(check(&mut wrong, framing, &other).await.is_err());
                }
            }
            for peer in peers::FORMAT_PEERS {
                let expected = reference(peer.framing(), items, false)?;
                let mut scenario = Streaming(peer.factory(move || peers::memory(items)));
                check(&mut scenario, peer.framing(), &expected).await?;
            }
            Ok(())
        })
    }
}
