#!/usr/bin/env bash
# Builds bin/tend as it ships: one static binary (no libc: CGO_ENABLED=0),
# without symbol tables, which also keeps the daemon's memory small.
set -euo pipefail
cd "$(dirname "$0")/.."
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o bin/tend ./cmd/tend
