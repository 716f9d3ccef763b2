//! The lab's subcommands, one module each.

pub(crate) mod alloc;
pub(crate) mod compare;
pub(crate) mod concurrency;
pub(crate) mod database;
pub(crate) mod parallel;
pub(crate) mod parallel_profile;
pub(crate) mod profile;
pub(crate) mod soak;
pub(crate) mod tune;

/// The options of `compare` and `tune`.
#[derive(Clone, Debug, Default, clap::Args)]
pub(crate) struct Options {
    /// Small requests, short alternations (a smoke run: CI's).
    #[arg(long)]
    pub(crate) quick: bool,
    /// Seconds of paired blocks for the whole run, split over the contestants (default:
    /// compare 105, tune 150; with --quick 3 and 2).
    #[arg(long)]
    pub(crate) budget: Option<f64>,
    /// Milliseconds per timed block (default 3, quick 1).
    #[arg(long)]
    pub(crate) block_ms: Option<f64>,
    /// Your own items (NDJSON, one item per line) instead of the built-in workloads:
    /// the same matrix (compare: memory, channel, HTTP) or sweep on them, into
    /// reports/items by default.
    #[arg(long)]
    pub(crate) items: Option<std::path::PathBuf>,
}

impl Options {
    /// Seconds of paired blocks: `--budget`, else `defaults[0]` (`[1]` with `--quick`).
    pub(crate) fn budget(&self, defaults: [f64; 2]) -> f64 {
        self.budget.unwrap_or(defaults[usize::from(self.quick)])
    }

    pub(crate) fn block(&self) -> std::time::Duration {
        let ms = self.block_ms.unwrap_or(if self.quick { 1.0 } else { 3.0 });
        std::time::Duration::from_secs_f64(ms / 1e3)
    }
}

/// Runs this binary again with `args` (a hidden child subcommand) and returns what it
/// printed: a child that fails is an error naming `what`, with what it said on stderr.
pub(crate) fn run_child<I, S>(what: &str, args: I) -> Result<String, chunkstream::BoxError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let output = std::process::Command::new(std::env::current_exe()?)
        .args(args)
        .output()?;
    if !output.status.success() {
        let why = String::from_utf8_lossy(&output.stderr);
        return Err(format!("{what} failed: {}", why.trim()).into());
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Runs `command` (`compare::run` or `tune::run`) quickly on a file of 300 mixed items
/// (objects, arrays, strings, numbers, nested values), for the tests of `--items`: the
/// rows of its `{stem}.csv` and its `{stem}.md`.
#[cfg(test)]
pub(crate) fn on_mixed_items<T: serde::de::DeserializeOwned>(
    command: fn(
        &Options,
        &crate::env_info::Environment,
        &std::path::Path,
    ) -> Result<(), chunkstream::BoxError>,
    stem: &str,
) -> Result<(Vec<T>, String), chunkstream::BoxError> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("items.ndjson");
    let lines: Vec<String> = (0..300)
        .map(|i| match i % 4 {
            0 => serde_json::json!({"id": i, "name": format!("item {i}"), "tags": ["a", "b"]}),
            1 => serde_json::json!([i, i as f64 / 3.0, null, true]),
            2 => serde_json::json!(format!("line {i} with \"quotes\" and é")),
            _ => serde_json::json!({"nested": {"depth": [{"i": i}], "ok": false}}),
        })
        .map(|v| v.to_string())
        .collect();
    std::fs::write(&path, lines.join("\n"))?;
    let options = Options {
        quick: true,
        budget: Some(0.2),
        block_ms: Some(0.2),
        items: Some(path),
    };
    let env = crate::env_info::Environment::from_text("command=chunkstream-lab --items\n");
    command(&options, &env, dir.path())?;
    let file = |ext: &str| dir.path().join(format!("{stem}.{ext}"));
    let rows = crate::record::read(&file("csv"))?.ok_or("no rows")?;
    Ok((rows, std::fs::read_to_string(file("md"))?))
}
