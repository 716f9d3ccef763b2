//! The user's own items for `compare --items` and `tune --items`: NDJSON, one item per
//! line, held as `serde_json::Value` (what a service streaming arbitrary JSON holds) and
//! measured like the built-in workloads.

use std::path::Path;

use chunkstream::BoxError;

/// The workload name of the user's items in the reports.
pub(crate) const WORKLOAD: &str = "items";

/// Reads `path`: the items (leaked, like the workloads', so every request borrows them)
/// and a line for the report saying how they were represented.
///
/// # Errors
///
/// When the file cannot be read, a line is not JSON (its number is given), or there is
/// no item.
pub(crate) fn load(path: &Path) -> Result<(&'static [serde_json::Value], String), BoxError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the items file {}: {e}", path.display()))?;
    let mut items = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let item = serde_json::from_str(line)
            .map_err(|e| format!("{} line {}: not JSON ({e})", path.display(), i + 1))?;
        items.push(item);
    }
    if items.is_empty() {
        return Err(format!("{}: no items (NDJSON, one item per line)", path.display()).into());
    }
    let bytes = serde_json::to_vec(&items)?.len();
    let line = format!(
        "{} items from `{}` ({bytes} bytes as one JSON array), each held as a \
         `serde_json::Value` parsed from its NDJSON line and streamed as it is",
        items.len(),
        path.display()
    );
    Ok((Box::leak(items.into_boxed_slice()), line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ndjson_and_says_which_line_is_not_json() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("items.ndjson");
        std::fs::write(&path, "{\"a\":1}\n\n[1,2]\n\"s\"\n").unwrap();
        let (items, line) = load(&path).unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(items[1], serde_json::json!([1, 2]));
        assert!(line.starts_with("3 items from"), "{line}");
        std::fs::write(&path, "{\"a\":1}\n{oops\n").unwrap();
        let err = load(&path).unwrap_err().to_string();
        assert!(err.contains("line 2: not JSON"), "{err}");
        std::fs::write(&path, "\n").unwrap();
        assert!(load(&path).unwrap_err().to_string().contains("no items"));
    }
}
