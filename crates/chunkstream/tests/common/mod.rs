//! Helpers shared by the integration tests: a tickets-like workload and body collection.
#![allow(dead_code)] // each test binary uses a part of this module

use bytes::Bytes;
use chunkstream::{ChunkStream, StreamError};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

/// A row of the original service's tickets table: about 400-500 bytes of JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Ticket {
    pub(crate) id: u64,
    pub(crate) title: String,
    pub(crate) status: String,
    pub(crate) priority: u8,
    pub(crate) assignee: Option<String>,
    pub(crate) tags: Vec<String>,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
    pub(crate) estimate_hours: f64,
    pub(crate) description: String,
}

const STATUSES: [&str; 4] = ["open", "in_progress", "blocked", "closed"];
const PEOPLE: [&str; 5] = ["alice", "bob", "chloé", "dmitri", "eun-ji"];
const TAGS: [&str; 6] = ["backend", "frontend", "db", "urgent", "customer", "infra"];

/// A deterministic ticket; ids and every field vary with `i`.
pub(crate) fn ticket(i: u64) -> Ticket {
    let n = i as usize;
    Ticket {
        id: 10_000 + i,
        title: format!("Ticket #{i}: export \"large\" reports times out after {} s", 30 + i % 90),
        status: STATUSES[n % STATUSES.len()].to_owned(),
        priority: (i % 5) as u8,
        assignee: (i % 7 != 0).then(|| PEOPLE[n % PEOPLE.len()].to_owned()),
        tags: (0..1 + n % 3)
            .map(|k| TAGS[(n + k) % TAGS.len()].to_owned())
            .collect(),
        created_at: format!("2024-{:02}-{:02}T{:02}:14:07Z", 1 + i % 12, 1 + i % 28, i % 24),
        updated_at: format!("2024-{:02}-{:02}T{:02}:51:33Z", 1 + i % 12, 1 + i % 28, i % 24),
        estimate_hours: 0.25 * (1 + i % 40) as f64,
        description: format!(
            "Customer {i} reports that the export of their monthly report stalls.\n\
             Steps: open Reports → Export → \"CSV\"; wait. Expected a file, got a spinner \
             and a 504 from the gateway after the\ttimeout. Logs attached; see also \
             ticket {} and the runbook at C:\\ops\\export.md. Priority per SLA tier {}.",
            i.wrapping_mul(7919) % 100_000,
            i % 3
        ),
    }
}

/// `n` tickets.
pub(crate) fn tickets(n: usize) -> Vec<Ticket> {
    (0..n as u64).map(ticket).collect()
}

/// Reads a chunk stream to its end, keeping the chunks.
pub(crate) async fn chunks(mut stream: ChunkStream) -> Result<Vec<Bytes>, StreamError> {
    let mut chunks = Vec::new();
    while let Some(chunk) = stream.next().await {
        chunks.push(chunk?);
    }
    Ok(chunks)
}

/// Reads a chunk stream to its end and concatenates the body.
pub(crate) async fn body(stream: ChunkStream) -> Result<Vec<u8>, StreamError> {
    Ok(chunks(stream).await?.concat())
}
