//! The environment a report was measured in: command, commit, rustc, CPU, kernel, its
//! CPU mitigations and idle driver, features, build profile, date. Stored as
//! `key=value` lines beside each CSV.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use chunkstream_benches::contestants::{ENCODERS, EncoderKind, FEATURES, POOLS, PoolKind};

/// The keys a report lists, in order: those every run recorded, each shown (`?` when
/// missing)...
pub(crate) const LISTED: [&str; 12] = [
    "command",
    "command_line",
    "commit",
    "dirty",
    "rustc",
    "cpu",
    "cores",
    "profile",
    "pools",
    "encoders",
    "features",
    "date",
];
/// ...then those recorded since a later version of the lab, shown when the run
/// recorded them.
pub(crate) const LISTED_WHEN_RECORDED: [&str; 3] = ["kernel", "cpu_mitigations", "cpuidle"];

/// Key-value description of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Environment(pub BTreeMap<String, String>);

impl Environment {
    /// Describes this process: `args` are what the lab was asked to do (its arguments
    /// after the binary name).
    pub(crate) fn capture(args: &[String]) -> Self {
        let release = !cfg!(debug_assertions);
        let dhat = cfg!(feature = "dhat-heap");
        let mut command = "cargo run".to_owned();
        command += if release { " --release" } else { "" };
        command += " -p chunkstream-lab";
        command += if dhat { " --features dhat-heap" } else { "" };
        if !args.is_empty() {
            command += &format!(" -- {}", args.join(" "));
        }
        // Uncommitted changes to anything but the reports themselves.
        let status = "status --porcelain --untracked-files=no -- . :!reports";
        let status: Vec<&str> = status.split(' ').collect();
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let profile = match release {
            true => format!("release ({})", env!("LAB_RELEASE_SETTINGS")),
            false => "debug".to_owned(),
        };
        let command_line = std::env::args().collect::<Vec<_>>().join(" ");
        let entries = [
            ("command", command),
            ("command_line", command_line),
            ("commit", run("git", &["-C", ROOT, "rev-parse", "HEAD"])),
            ("dirty", (!run("git", &status).is_empty()).to_string()),
            ("rustc", run("rustc", &["--version"])),
            ("cpu", cpu_model().unwrap_or_else(|| "?".to_owned())),
            ("cores", cores.to_string()),
            ("kernel", run("uname", &["-r"])),
            (
                "cpu_mitigations",
                cpu_mitigations().unwrap_or_else(|| "?".to_owned()),
            ),
            ("cpuidle", cpuidle().unwrap_or_else(|| "?".to_owned())),
            ("profile", profile),
            ("pools", names(POOLS, PoolKind::name)),
            ("encoders", names(ENCODERS, EncoderKind::name)),
            (
                "features",
                format!("chunkstream {FEATURES}; lab dhat-heap={dhat}"),
            ),
            ("date", run("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"])),
        ];
        Environment(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        )
    }

    /// A value, or `"?"`.
    pub(crate) fn get(&self, key: &str) -> &str {
        self.0.get(key).map_or("?", String::as_str)
    }

    /// `key=value` lines.
    fn to_text(&self) -> String {
        let line = |(k, v): (&String, &String)| format!("{k}={}\n", v.replace('\n', " "));
        self.0.iter().map(line).collect()
    }

    /// Parses [`to_text`](Environment::to_text).
    pub(crate) fn from_text(text: &str) -> Self {
        let pairs = text.lines().filter_map(|line| line.split_once('='));
        Environment(pairs.map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
    }

    /// Writes `path`.
    pub(crate) fn write(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, self.to_text())
    }

    /// Reads `path`, or an empty environment.
    pub(crate) fn read(path: &Path) -> Self {
        std::fs::read_to_string(path).map_or_else(|_| Self::default(), |t| Self::from_text(&t))
    }
}

/// The workspace root (the commit and the dirty state are the workspace's, wherever
/// the lab runs from).
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// What `program` printed, or `?` when it could not run or failed.
fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().ok();
    match out.filter(|out| out.status.success()) {
        Some(out) => String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        None => "?".to_owned(),
    }
}

fn names<T: Copy>(all: &[T], name: fn(T) -> &'static str) -> String {
    all.iter().map(|&v| name(v)).collect::<Vec<_>>().join(" ")
}

fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("model name"))?;
    Some(line.split_once(':')?.1.trim().to_owned())
}

/// The kernel's mitigations of the CPU's speculative-execution flaws that are on or
/// left open here (`name: state | ...`, those the CPU is not affected by left out). They
/// set what a system call costs, so the HTTP rows (the server's sends, the client's reads)
/// move with them from one host to another (with AMD's return-stack mitigation,
/// "Safe RET", every return in the kernel goes through a thunk).
fn cpu_mitigations() -> Option<String> {
    let dir = std::fs::read_dir("/sys/devices/system/cpu/vulnerabilities").ok()?;
    let mut states: Vec<String> = dir
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let state = std::fs::read_to_string(entry.path()).ok()?;
            let state = state.trim();
            (state != "Not affected")
                .then(|| format!("{}: {state}", entry.file_name().to_string_lossy()))
        })
        .collect();
    states.sort();
    // A state may itself hold "; " (spectre_v2's lists its parts so).
    Some(states.join(" | "))
}

/// The CPU idle driver and governor, and with a virtual machine's `haltpoll` driver how
/// long an idle virtual CPU polls before it halts (`guest_halt_poll_ns`): a halted one
/// takes tens of microseconds to wake, which every cross-thread hand-off of an HTTP row
/// (client to server and back, stream to worker) can meet.
fn cpuidle() -> Option<String> {
    let read = |path: &str| Some(std::fs::read_to_string(path).ok()?.trim().to_owned());
    let dir = "/sys/devices/system/cpu/cpuidle";
    let driver = read(&format!("{dir}/current_driver"))?;
    let governor = read(&format!("{dir}/current_governor_ro")).unwrap_or_else(|| "?".into());
    let poll = read("/sys/module/haltpoll/parameters/guest_halt_poll_ns");
    let poll = poll.map_or(String::new(), |ns| format!("; guest_halt_poll_ns={ns}"));
    Some(format!("{driver} ({governor}){poll}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_as_text() {
        let env = Environment::capture(&["compare".to_owned(), "--quick".to_owned()]);
        assert!(env.get("command").ends_with("-- compare --quick"));
        assert_eq!(Environment::from_text(&env.to_text()), env);
    }

    /// The kernel, its CPU mitigations and its idle driver are recorded and listed; a
    /// run recorded before the lab took them lists none of them.
    #[test]
    fn records_the_kernel_its_cpu_mitigations_and_idle_driver() {
        let env = Environment::capture(&[]);
        assert_ne!(env.get("kernel"), "?");
        if Path::new("/sys/devices/system/cpu/vulnerabilities").is_dir() {
            let states = env.get("cpu_mitigations");
            let mut states = states.split(" | ").filter(|s| !s.is_empty());
            assert!(
                states.all(|s| s
                    .split_once(": ")
                    .is_some_and(|(_, state)| state != "Not affected")),
                "{}",
                env.get("cpu_mitigations")
            );
        }
        if Path::new("/sys/devices/system/cpu/cpuidle/current_driver").exists() {
            let idle = env.get("cpuidle");
            assert!(!idle.starts_with('?') && idle.contains(" ("), "{idle}");
        }
        let later = LISTED_WHEN_RECORDED;
        let listed = crate::report::environment(&env);
        for key in later {
            assert!(listed.contains(&format!("- {key}: `")), "{key}: {listed}");
        }
        let mut before = env.clone();
        before.0.retain(|key, _| !later.contains(&key.as_str()));
        let listed = crate::report::environment(&before);
        for key in later {
            assert!(!listed.contains(&format!("- {key}:")), "{key}: {listed}");
        }
    }

    /// A release report's `profile` line names the flags rustc ran with (the workspace
    /// aligns every loop), and the profile's settings before them.
    #[test]
    fn release_settings_name_the_rustflags() {
        let settings = env!("LAB_RELEASE_SETTINGS");
        assert!(settings.starts_with("lto="), "{settings}");
        // The workspace's own settings, read where the checkout is now.
        let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.toml");
        let text = std::fs::read_to_string(manifest).expect("the workspace manifest");
        let release = text.split("[profile.release]").nth(1).unwrap_or_default();
        let release = release.split("\n[").next().unwrap_or_default();
        if release.contains("lto = \"fat\"") {
            assert!(settings.starts_with("lto=fat "), "{settings}");
        }
        let flags = settings.split_once(" rustflags=").map(|(_, f)| f);
        assert!(flags.is_some_and(|f| !f.is_empty()), "{settings}");
    }
}
