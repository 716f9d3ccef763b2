//! Records the release profile's code generation settings (`lto`, `codegen-units`) and
//! the flags rustc ran with (`.cargo/config.toml` aligns every loop) for the reports'
//! environment: they move the in-memory ratios by several percent, and cargo tells a
//! binary only its opt-level and debug settings.

use std::env;
use std::fs;

/// The settings that change what the optimizer sees across crates.
const KEYS: [&str; 2] = ["lto", "codegen-units"];

fn main() {
    // Read where the package is now: a path fixed when this script was compiled
    // (`env!`) outlived a move of the checkout, and the reports then said `default` for
    // a build with fat LTO.
    let manifest = format!(
        "{}/../../Cargo.toml",
        env::var("CARGO_MANIFEST_DIR").unwrap_or_default()
    );
    println!("cargo::rerun-if-changed={manifest}");
    let text = fs::read_to_string(&manifest);
    let settings: Vec<String> = KEYS
        .iter()
        .map(|key| {
            let var = format!(
                "CARGO_PROFILE_RELEASE_{}",
                key.to_uppercase().replace('-', "_")
            );
            println!("cargo::rerun-if-env-changed={var}");
            let value = match (env::var(&var), &text) {
                (Ok(value), _) => value,
                (Err(_), Ok(text)) => {
                    release_setting(text, key).unwrap_or_else(|| "default".to_owned())
                }
                (Err(_), Err(_)) => "unknown".to_owned(),
            };
            format!("{key}={value}")
        })
        .collect();
    // Cargo hands a build script the flags it gives rustc, separated by 0x1f.
    println!("cargo::rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let flags = flags
        .split('\x1f')
        .filter(|f| !f.is_empty())
        .collect::<Vec<_>>();
    let flags = match flags.is_empty() {
        true => "none".to_owned(),
        false => flags.join(" "),
    };
    println!(
        "cargo::rustc-env=LAB_RELEASE_SETTINGS={} rustflags={flags}",
        settings.join(" ")
    );
}

/// `key`'s value in the workspace manifest's `[profile.release]` table, if set there.
fn release_setting(manifest: &str, key: &str) -> Option<String> {
    let table = manifest.split("[profile.release]").nth(1)?;
    let table = table.split("\n[").next()?;
    table.lines().find_map(|line| {
        let (k, v) = line.split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches('"').to_owned())
    })
}
