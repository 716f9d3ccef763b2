//! The library's modules follow the flow: each file of `src` imports (`use crate::…`,
//! `use super::…`) only modules that come before it in `ORDER`, and no import circle
//! exists between files. A new module must be placed in `ORDER`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The flow, first to last. Files in a directory are named `dir/file`; `dir` alone is
/// its `mod.rs`, which comes before its files only as a declaration (it may re-export
/// them); the order among a directory's files is checked as the circle check.
const ORDER: &[&str] = &[
    "macros",
    "sync",
    "config",
    "pool",
    "raw",
    "encode",
    "error",
    "trace",
    "run_ahead",
    "source",
    "sql",
    "sqlite",
    "transform",
    "format",
    "item",
    "chunk",
    "pipeline",
    "parallel",
    "stream",
    "pace",
    "spawned",
    "metrics",
    "streamer",
    "response",
    "negotiate",
    "lib",
];

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// `pool/mod.rs` is `pool`, `pool/none.rs` is `pool/none`.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let rel = rel.to_string_lossy().replace('\\', "/");
    rel.strip_suffix("/mod").unwrap_or(&rel).to_owned()
}

/// The modules a file imports: top-level modules for `crate::x`, sibling files for
/// `super::x` (a name that is not a sibling file is the parent's own item).
fn imports(module: &str, text: &str, known: &BTreeSet<String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let parent = module.rsplit_once('/').map(|(dir, _)| dir);
    for line in text.lines() {
        let line = line.trim_start();
        let Some(rest) = line
            .strip_prefix("pub(crate) use ")
            .or_else(|| line.strip_prefix("pub use "))
            .or_else(|| line.strip_prefix("use "))
        else {
            continue;
        };
        let mut names = Vec::new();
        if let Some(path) = rest.strip_prefix("crate::") {
            let first: String = path
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if first.is_empty() {
                // `use crate::{a, b::c}`: every first segment in the braces.
                names.extend(path.trim_start_matches('{').split(',').map(|part| {
                    part.trim()
                        .split("::")
                        .next()
                        .unwrap_or("")
                        .trim_end_matches('}')
                        .to_owned()
                }));
            } else {
                names.push(first);
            }
            for name in names {
                if known.contains(&name) && name != module.split('/').next().unwrap() {
                    out.insert(name);
                }
            }
        } else if let (Some(path), Some(parent)) = (rest.strip_prefix("super::"), parent) {
            let first: String = path
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let sibling = format!("{parent}/{first}");
            if known.contains(&sibling) {
                out.insert(sibling);
            }
        }
    }
    out
}

fn rank(module: &str) -> usize {
    let top = module.split('/').next().unwrap();
    ORDER
        .iter()
        .position(|m| *m == top)
        .unwrap_or_else(|| panic!("module `{top}` is not in ORDER: place it in the flow"))
}

#[test]
fn modules_import_only_earlier_modules_and_no_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    files(&src, &mut paths);
    let modules: BTreeMap<String, String> = paths
        .iter()
        .map(|path| {
            (
                module_of(&src, path),
                std::fs::read_to_string(path).unwrap(),
            )
        })
        .collect();
    let known: BTreeSet<String> = modules.keys().cloned().collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut backward = Vec::new();
    for (module, text) in &modules {
        let used = imports(module, text, &known);
        for to in &used {
            if !to.contains('/') && rank(to) > rank(module) {
                backward.push(format!("{module} -> {to}"));
            }
        }
        edges.insert(module.clone(), used);
    }
    assert!(
        backward.is_empty(),
        "imports against the flow: {backward:?}"
    );
    // No circle, between files of a directory included (depth-first search).
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, bool>,
        path: &mut Vec<String>,
    ) {
        match state.get(node) {
            Some(true) => return,
            Some(false) => panic!("import circle: {} -> {node}", path.join(" -> ")),
            None => {}
        }
        state.insert(node.to_owned(), false);
        path.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            visit(next, edges, state, path);
        }
        path.pop();
        state.insert(node.to_owned(), true);
    }
    let mut state = BTreeMap::new();
    for module in edges.keys() {
        visit(module, &edges, &mut state, &mut Vec::new());
    }
}

#[test]
fn the_check_sees_a_backward_import_and_a_circle() {
    let known: BTreeSet<String> = ["chunk", "format", "encode/key", "encode/finite"]
        .map(String::from)
        .into();
    let used = imports("format", "use crate::chunk::ChunkWriter;\n", &known);
    assert!(used.contains("chunk") && rank("chunk") > rank("format"));
    let used = imports("encode/key", "use super::finite::Refusals;\n", &known);
    assert!(used.contains("encode/finite"));
    let used = imports("format", "use crate::{chunk::X, encode::Y};\n", &known);
    assert!(used.contains("chunk"));
}
