//! The reports of the paired subcommands (`parallel`, `database`): their rows with the
//! ratio's interval, target and verdict, after the noise of the run.

use std::path::Path;

use chunkstream::BoxError;

use crate::env_info::Environment;
use crate::harness::noise;
use crate::harness::rows::{self, Row};
use crate::record;

/// The rows as a markdown table (ratio with its interval, MB/s, verdict, memory).
pub(crate) fn markdown(rows: &[Row]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let r = row.record();
            let peak = match row.peak_buffers {
                Some(p) => format!("{p} ({:.1} MB)", (p * row.buffer_bytes) as f64 / 1e6),
                None => "-".into(),
            };
            vec![
                r.section,
                r.contestant,
                r.reference,
                r.mb_per_s.to_string(),
                r.reference_mb_per_s.to_string(),
                row.series.speed().show(3),
                r.target.to_string(),
                r.verdict,
                peak,
                r.buffer_bound.to_string(),
                r.note,
            ]
        })
        .collect();
    super::markdown_table(
        &[
            "section",
            "contestant",
            "reference",
            "MB/s",
            "ref MB/s",
            "ratio [95% interval]",
            "target",
            "verdict",
            "peak buffers (bytes)",
            "bound",
            "note",
        ],
        &cells,
    )
}

/// Writes `<name>.csv`, `<name>.env` and `<name>.md` (`body` after the header) in `out`.
pub(crate) fn write(
    out: &Path,
    name: &str,
    title: &str,
    env: &Environment,
    rows: &[Row],
    body: &str,
) -> Result<(), BoxError> {
    std::fs::create_dir_all(out)?;
    let records: Vec<record::Paired> = rows.iter().map(Row::record).collect();
    record::write(&out.join(format!("{name}.csv")), &records)?;
    env.write(&out.join(format!("{name}.env")))?;
    let noise = noise::summary(&rows::noise(name, rows).table());
    let body = format!("{noise}\n\n{body}\n");
    std::fs::write(
        out.join(format!("{name}.md")),
        super::document(title, env, &body),
    )?;
    Ok(())
}
