//! A CSV table of strings: what the lab writes beside each report and reads back to
//! regenerate it. Values never contain commas or newlines (they are replaced).

use std::fmt::Write as _;
use std::path::Path;

/// Rows of named columns.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Table {
    /// Column names.
    pub(crate) header: Vec<String>,
    /// Rows, each as long as the header.
    pub(crate) rows: Vec<Vec<String>>,
}

/// One row of a [`Table`], read by column name.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Row<'a> {
    table: &'a Table,
    cells: &'a [String],
}

impl Table {
    /// An empty table with these columns.
    pub(crate) fn new(header: &[&str]) -> Self {
        Table {
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row (padded or cut to the header's width).
    pub(crate) fn push(&mut self, row: Vec<String>) {
        let mut row: Vec<String> = row.into_iter().map(|c| clean(&c)).collect();
        row.resize(self.header.len(), String::new());
        self.rows.push(row);
    }

    /// The rows, readable by column name.
    pub(crate) fn iter(&self) -> impl Iterator<Item = Row<'_>> {
        self.rows
            .iter()
            .map(move |cells| Row { table: self, cells })
    }

    /// CSV text.
    pub(crate) fn to_csv(&self) -> String {
        let mut out = self.header.join(",");
        out.push('\n');
        for row in &self.rows {
            let _ = writeln!(out, "{}", row.join(","));
        }
        out
    }

    /// Parses [`to_csv`](Table::to_csv).
    pub(crate) fn from_csv(text: &str) -> Self {
        let mut lines = text.lines().filter(|l| !l.is_empty());
        let header = lines
            .next()
            .map(|h| h.split(',').map(str::to_owned).collect())
            .unwrap_or_default();
        let rows = lines
            .map(|l| l.split(',').map(str::to_owned).collect())
            .collect();
        Table { header, rows }
    }

    /// Writes the CSV file.
    pub(crate) fn write(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, self.to_csv())
    }

    /// Reads a CSV file, `None` when it does not exist.
    pub(crate) fn read(path: &Path) -> Option<Self> {
        std::fs::read_to_string(path)
            .ok()
            .map(|t| Table::from_csv(&t))
    }

    fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }
}

impl<'a> Row<'a> {
    /// The cell in column `name` ("" when there is no such column).
    pub(crate) fn get(&self, name: &str) -> &'a str {
        self.table
            .column(name)
            .and_then(|i| self.cells.get(i))
            .map_or("", String::as_str)
    }

    /// The cell as a number (NaN when empty or not a number).
    pub(crate) fn num(&self, name: &str) -> f64 {
        self.get(name).parse().unwrap_or(f64::NAN)
    }
}

fn clean(cell: &str) -> String {
    cell.replace([',', '\n', '\r'], ";")
}

/// A number with `decimals` places, or `-` when it is missing (NaN).
pub(crate) fn fmt_num(value: f64, decimals: usize) -> String {
    if value.is_nan() {
        "-".to_owned()
    } else {
        format!("{value:.decimals$}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_reads_by_name() {
        let mut t = Table::new(&["name", "value"]);
        t.push(vec!["a,b".into(), "1.5".into()]);
        t.push(vec!["c".into()]);
        let back = Table::from_csv(&t.to_csv());
        assert_eq!(back, t);
        let rows: Vec<_> = back.iter().collect();
        assert_eq!(rows[0].get("name"), "a;b");
        assert_eq!(rows[0].num("value"), 1.5);
        assert!(rows[1].num("value").is_nan());
        assert_eq!(rows[1].get("missing"), "");
    }

    #[test]
    fn formats_missing_numbers() {
        assert_eq!(fmt_num(f64::NAN, 2), "-");
        assert_eq!(fmt_num(0.95123, 2), "0.95");
    }
}
