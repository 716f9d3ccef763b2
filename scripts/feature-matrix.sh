#!/usr/bin/env bash
# Tests chunkstream under each feature set that matters, one at a time:
# each pool feature alone, each encoder feature alone, `tracing` alone, and no features,
# then the downstream feature-check crate on its own (so that cargo does not unify
# its features with the other workspace members').
#
# To keep this cheap on small CI machines, `--lib --tests` skips doctests and the
# property test is left out: both run over every pool and encoder with all features
# in the main test command (`cargo test --workspace --all-features`), which this does
# not repeat.
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
    encoder-simd-json encoder-sonic-rs tracing
do
    run test -p chunkstream --no-default-features --features "$features" --lib --tests -- --skip property::
done

run test -p chunkstream --no-default-features --lib --tests -- --skip property::

# Alone: see crates/feature-check/Cargo.toml.
run test -p chunkstream-feature-check
