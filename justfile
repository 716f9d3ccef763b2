# chunkstream tasks. Every recipe is a thin wrapper over plain cargo commands:
# run `just --list` for the list, or copy a recipe's command line.

set shell := ["bash", "-euo", "pipefail", "-c"]

# List the recipes.
[group('help')]
default:
    @just --list

# The main job: criterion benches, the lab's comparison (Go too, when installed), the reports.
[group('bench')]
bench:
    cargo bench -p chunkstream-benches
    cargo run --release -p chunkstream-lab -- compare
    cargo run --release -p chunkstream-lab -- report

# The sweep of buffer size x chunk threshold x batch size, with plots.
[group('bench')]
tune:
    cargo run --release -p chunkstream-lab -- tune

# A pprof flamegraph of one scenario into reports/flamegraphs/.
[group('bench')]
profile workload="tickets" pool="freelist" encoder="serde_json":
    cargo run --release -p chunkstream-lab -- profile --workload {{ workload }} --pool {{ pool }} --encoder {{ encoder }}

# Bytes and blocks allocated per request with dhat, each strategy in its own process.
[group('bench')]
alloc:
    cargo run --release -p chunkstream-lab --features dhat-heap -- alloc

# Throughput and pool hit rate under 1, 2, 8 and 64 concurrent requests.
[group('bench')]
concurrency:
    cargo run --release -p chunkstream-lab -- concurrency

# Ten million tickets through the streamer, peak resident memory reported.
[group('bench')]
soak:
    cargo run --release -p chunkstream-lab -- soak

# Parallel encoding (1, 2, 4 workers), run-ahead sources and 64 concurrent requests, paired.
[group('bench')]
parallel:
    cargo run --release -p chunkstream-lab -- parallel

# Database to body on SQLite (and PostgreSQL with DATABASE_URL): decode + encode against
# database-made JSON, paired, with flamegraphs.
[group('bench')]
database:
    cargo run --release -p chunkstream-lab -- database

# Regenerate the markdown reports and plots from the CSVs in reports/.
[group('bench')]
report:
    cargo run --release -p chunkstream-lab -- report

# The lab's smoke test: benches once in criterion's test mode, a quick comparison.
[group('check')]
smoke:
    cargo test -p chunkstream-benches --benches
    cargo run -p chunkstream-lab -- compare --quick
    cargo run -p chunkstream-lab -- parallel --quick
    cargo run -p chunkstream-lab -- database --quick

# Every test of the workspace, every feature.
[group('check')]
test:
    cargo test --workspace --all-features

# Formatting, clippy with warnings denied, and the docs.
[group('check')]
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets --all-features -- -D warnings
    cargo doc --workspace --no-deps --all-features

# What CI runs.
[group('check')]
ci:
    bash .ci/run

# The tickets service on 127.0.0.1:3000 (first start seeds target/tickets.db with 100,000 tickets).
[group('demo')]
demo:
    mkdir -p target
    cargo run --release -p chunkstream-tickets -- --db target/tickets.db --tickets 100000
