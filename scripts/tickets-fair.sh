#!/usr/bin/env bash
# Regenerates reports/tickets-fair.txt: the tickets service's fairness scenarios (issue
# "Fair under load") on this machine, with the commands that made each block.
#
# Usage: scripts/tickets-fair.sh [BEFORE_TICKETS_BINARY]
#   Builds the release binaries, seeds one SQLite file of 100,000 tickets and runs
#   `loadtest fair`, the 15 s keep-alive scenario, the queue-wait and malloc-arena
#   comparisons and, when `wrk` is installed, scripts/tickets-wrk.sh. With
#   BEFORE_TICKETS_BINARY (a `tickets` built at an older commit) the keep-alive and wrk
#   blocks also run against it. Takes about 10 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
before=${1:-}
out=reports/tickets-fair.txt
cargo build --release -p chunkstream-tickets --bins
bin=${CARGO_TARGET_DIR:-target}/release
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
db=$dir/tickets.db
lt() { "$bin/loadtest" --server "${server:-$bin/tickets}" --db "$db" --stall-timeout 30 "$@"; }

{
    echo "# The tickets service under load: fairness scenarios"
    echo
    echo "Generated $(date -u +%Y-%m-%dT%H:%MZ) by \`scripts/tickets-fair.sh${before:+ BEFORE}\` at commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates || echo ' (with uncommitted changes)'),"
    echo "on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(rustc --version), release builds."
    echo "Database: SQLite, 100,000 tickets, the service's default flags unless named; the"
    echo "stall limit is the service default (30 s), so the slow readers are cut by the"
    echo "minimum data rate. Rates depend on what else the machine runs; counts are what the"
    echo "runs check, and \`rss_within_bound\` compares the server's peak RSS with the sizes"
    echo "it reports on \`/healthz\`."
    echo
    echo '## `loadtest fair`: slow readers, queued downloads, a burst, keep-alive'
    echo
    echo '```'
    lt fair 2>"$dir/fair.err"
    echo "# the server's log lines for the minimum-rate cuts:"
    grep 'below the minimum' "$dir/fair.err" || echo "(none)"
    echo '```'
    echo
    echo '## Keep-alive, 15 s: `loadtest keepalive --seconds 15`'
    echo
    echo '```'
    echo "# now"
    lt keepalive --seconds 15 2>/dev/null || true
    if [ -n "$before" ]; then
        echo "# before ($before)"
        server=$before lt keepalive --seconds 15 2>/dev/null || true
    fi
    echo '```'
    echo
    echo '## The queue wait: `loadtest downloads` with shorter and longer waits'
    echo
    echo '```'
    for wait in 10 30 90; do
        echo "# --queue-wait=$wait"
        lt downloads --server-arg=--queue-wait=$wait 2>/dev/null | grep -E '^downloads=|rss'
    done
    echo '```'
    echo
    echo "## Peak RSS of \`downloads\` and glibc's malloc arenas"
    echo
    echo "The service caps glibc's arenas at one per core unless \`MALLOC_ARENA_MAX\` is set."
    echo "The same scenario with glibc's own limit (8 per core) in the server's environment:"
    echo
    echo '```'
    echo "# the service's cap"
    lt downloads 2>/dev/null | grep -E 'rss'
    echo "# MALLOC_ARENA_MAX=$(($(nproc) * 8))"
    MALLOC_ARENA_MAX=$(($(nproc) * 8)) lt downloads 2>/dev/null | grep -E 'rss'
    echo '```'
    if command -v wrk >/dev/null; then
        echo
        echo '## wrk: `scripts/tickets-wrk.sh BINARY DB PORT`'
        echo
        echo '```'
        scripts/tickets-wrk.sh "$bin/tickets" "$db" 3018
        [ -z "$before" ] || scripts/tickets-wrk.sh "$before" "$db" 3019
        echo '```'
    fi
} >"$out.tmp"
mv "$out.tmp" "$out"
echo "wrote $out"
