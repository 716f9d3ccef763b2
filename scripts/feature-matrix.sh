#!/usr/bin/env bash
# Tests chunkstream under each feature set that matters, one at a time:
# each pool feature alone, each encoder feature alone, no features, all features,
# then the downstream feature-check crate on its own (so that cargo does not unify
# its features with the other workspace members').
#
# `--lib --tests` skips doctests to keep this cheap on small CI machines; the doctests
# run with the default and all features in the main test command.
#
# Usage: scripts/feature-matrix.sh   (from anywhere; honours CARGO_TARGET_DIR)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

run() {
    echo "==> cargo $*" >&2
    cargo "$@"
}

for features in \
    pool-freelist pool-object-pool pool-thread-local \
    encoder-serde-json encoder-simd-json encoder-sonic-rs
do
    run test -p chunkstream --no-default-features --features "$features" --lib --tests
done

run test -p chunkstream --no-default-features --lib --tests
run test -p chunkstream --all-features --lib --tests

# Alone: see crates/feature-check/Cargo.toml.
run test -p chunkstream-feature-check
