#!/usr/bin/env bash
# Runs every example of the chunkstream crate and checks its output: each expected line
# must appear (fixed strings; `re:` marks an extended regex). Server examples get
# `--once`: they serve on 127.0.0.1, make one request of each kind with a real client,
# print what they got and exit.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build -q -p chunkstream --all-features --examples

failed=0
check() {
    local name=$1
    shift
    local out
    printf '%s: ' "$name"
    if ! out=$(timeout 120 cargo run -q -p chunkstream --all-features --example "$name" -- --once 2>&1); then
        printf 'FAILED (exit status)\n%s\n' "$out"
        failed=1
        return
    fi
    local expected missing=0
    for expected in "$@"; do
        if [[ $expected == re:* ]]; then
            grep -Eq -- "${expected#re:}" <<<"$out" || { printf '\n  missing /%s/' "${expected#re:}"; missing=1; }
        else
            grep -Fq -- "$expected" <<<"$out" || { printf '\n  missing "%s"' "$expected"; missing=1; }
        fi
    done
    if ((missing)); then
        printf '\nFAILED; the output was:\n%s\n' "$out"
        failed=1
    else
        printf 'ok\n'
    fi
}

check json_seq \
    'workers 2, batch, validated raw, spawned:' \
    'records: 5000, every path the same bytes: true' \
    'first record: "{\"id\":0,\"celsius\":0.0}\n"'

check basic_streaming \
    'body: [{"id":1,"name":"user 1"},{"id":2,"name":"user 2"},{"id":3,"name":"user 3"}]' \
    '"user 2"' \
    're:^chunks: [0-9]+, bytes: 28787, items: 1000$'

check sql_streaming \
    'rows: [{"id":1,"subject":"ticket 1","status":"open"},{"id":2,"subject":"ticket 2","status":"closed"},{"id":3,"subject":"ticket 3","status":"open"}]' \
    'open: [{"id":1,"open":true},{"id":3,"open":true}]' \
    'total: 3'

check batch_streaming \
    'batches: 3' \
    'batch sizes: [100, 100, 50]' \
    'items: 250' \
    'first: {"id":1,"score":0.01}' \
    'last: {"id":250,"score":1.0}'

check custom_config \
    'buffer_size: 16384, chunk_threshold: 8192, batch_size: 250, max_pooled: 32, max_retained: 32768' \
    'refused: invalid chunk config: chunk_threshold (4096) exceeds pool.buffer_size (1024)' \
    'flushed before the end: true'

check error_handling \
    'stream error: kind source, source failed: row 3 is corrupt' \
    'early: status 500' \
    're:^early: body \{"error":"source","message":"the source of the stream failed","id":"[0-9a-f]{16}"\}$' \
    'late: status 200' \
    'late: transfer aborted (incomplete body)'

check cancellation \
    're:^drop: ([0-9]+) items pulled at the drop, \1 after 50 ms$' \
    'token: ended with cancelled' \
    'timeout: ended with timed_out'

check buffer_pool \
    're:^hit rate: (9[0-9]|100)\.[0-9]%$' \
    'outstanding after the requests: 0' \
    'global pool buffer comes back cleared: true'

check custom_pool \
    're:^custom pool: hits [0-9]+, misses [0-9]+, returned [0-9]+, dropped 0, pooled [0-9]+$' \
    're:^hit rate: [0-9.]+%$' \
    'outstanding: 0' \
    're:^largest buffer returned: [0-9]+ bytes \(buffer_size 4096\)$'

check axum_handler \
    'GET /tickets: 200 application/json total=-' \
    '[{"id":1,"title":"ticket 1"},{"id":2,"title":"ticket 2"},{"id":3,"title":"ticket 3"}]' \
    'GET /statuses: 200 application/json total=-' \
    '["open","in_progress","closed"]' \
    'GET /titles: 200 application/x-ndjson total=3' \
    '"ticket 3"'

check migration \
    're:^GET /before: 200, 2000 items, 69787 bytes' \
    're:^GET /after: 200, 2000 items, 69787 bytes' \
    'same items: true'

exit "$failed"
