#!/usr/bin/env bash
# wrk against the tickets service on 127.0.0.1: 2 threads, 64 connections, 15 s on
# /tickets?limit=100, alone and beside 8 clients downloading /tickets at 1 KiB/s (curl
# --limit-rate). Usage: scripts/tickets-wrk.sh TICKETS_BINARY SQLITE_FILE [PORT].
# Needs wrk (Debian package `wrk`) and curl. Stops the server and the readers itself.
set -euo pipefail
server=$1 db=$2 port=${3:-3018}
"$server" --db "$db" --addr "127.0.0.1:$port" >/dev/null 2>&1 &
pid=$!
readers=()
cleanup() {
    for r in "${readers[@]}"; do kill "$r" 2>/dev/null || true; done
    kill "$pid" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 1 300); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
    sleep 0.2
done
url="http://127.0.0.1:$port/tickets?limit=100"
echo "== wrk alone ($server)"
wrk -t2 -c64 -d15s "$url"
echo "== wrk beside 8 downloads at 1 KiB/s ($server)"
for _ in $(seq 1 8); do
    curl -s --limit-rate 1k "http://127.0.0.1:$port/tickets" -o /dev/null &
    readers+=($!)
done
sleep 1
wrk -t2 -c64 -d15s "$url"
echo "== peak RSS of the server: $(grep VmHWM "/proc/$pid/status" | tr -s ' ')"
