#!/usr/bin/env bash
# The Go reference (reference/go): installs Go when it is missing, then vets, tests and
# runs its benchmarks once in a short form (a smoke test, not a measurement: the lab
# measures). Takes well under a minute once Go is installed.
#
# Usage: scripts/go-reference.sh   (from anywhere; installs golang-go with apt-get when
# `go` is not on PATH, which needs root, as in CI)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../reference/go"

if ! command -v go >/dev/null 2>&1; then
    echo "==> go not found: apt-get install golang-go" >&2
    if [[ $(id -u) -ne 0 ]]; then
        echo "go is not installed and this is not root: install golang-go (Go >= 1.18)" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq golang-go >/dev/null
fi
go version

# The module has no dependencies: never download a module or a toolchain.
export GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-mod=mod

run() {
    echo "==> $*" >&2
    "$@"
}

unformatted=$(gofmt -l .)
if [[ -n $unformatted ]]; then
    echo "gofmt would change:" >&2
    echo "$unformatted" >&2
    exit 1
fi
run go vet ./...
run go test -count=1 ./...
run go test -count=1 -run '^$' -bench . -benchmem -benchtime=100x ./...
