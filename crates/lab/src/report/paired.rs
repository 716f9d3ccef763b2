//! The reports of the paired subcommands (`parallel`, `database`): their rows with the
//! ratio's interval, target and verdict, after the noise of the run.

use std::path::Path;

use chunkstream::BoxError;

use crate::env_info::Environment;
use crate::harness::noise;
use crate::harness::rows::{self, Row};
use crate::record::{self, fmt_num};

/// The rows as a markdown table (ratio with its interval, MB/s, verdict, memory).
pub(crate) fn markdown(rows: &[Row]) -> String {
    let records: Vec<record::Paired> = rows.iter().map(Row::record).collect();
    super::table(COLUMNS, &records)
}

const COLUMNS: &[super::Column<record::Paired>] = &[
    ("section", |r| r.section.clone()),
    ("contestant", |r| r.contestant.clone()),
    ("reference", |r| r.reference.clone()),
    ("MB/s", |r| fmt_num(r.mb_per_s.0, 1)),
    ("ref MB/s", |r| fmt_num(r.reference_mb_per_s.0, 1)),
    ("ratio [95% interval]", |r| r.ratio().show(3)),
    ("target", |r| r.target.to_string()),
    ("verdict", |r| r.verdict.clone()),
    ("peak buffers (bytes)", |r| {
        match r.peak_buffers.0.is_nan() {
            true => "-".into(),
            false => format!("{} ({:.1} MB)", r.peak_buffers, r.peak_buffer_bytes.0 / 1e6),
        }
    }),
    ("bound", |r| r.buffer_bound.to_string()),
    ("note", |r| r.note.clone()),
];

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::paired::Series;

    #[test]
    fn rows_show_their_interval_verdict_and_peak_buffers() {
        let row = Row {
            section: "bulk; memory".into(),
            contestant: "a".into(),
            reference: "limit".into(),
            bytes: 123_456,
            series: Series {
                reference: vec![1.0, 1.1, 0.9, 1.0],
                contestant: vec![0.5, 0.6, 0.55],
                reference_reps: 1,
                contestant_reps: 1,
            },
            target: Some(1.6),
            peak_buffers: Some(3),
            buffer_bytes: 65536,
            bound: Some(4),
            note: "ok".into(),
        };
        let md = markdown(&[row, Row::default()]);
        let lines: Vec<&str> = md.lines().skip(2).collect();
        assert_eq!(
            lines,
            [
                "| bulk; memory | a | limit | 0.2 | 0.1 | 1.727 [1.667, 2.100] | 1.60 | met | 3 (0.2 MB) | 4 | ok |",
                "|  |  |  | - | - | - | - | - | - | - |  |",
            ]
        );
    }
}
