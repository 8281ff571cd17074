#!/usr/bin/env bash
# Runs every test of tend: installs the Node fixtures' packages, checks
# formatting and vet, then runs the whole suite with the race detector.
set -euo pipefail
cd "$(dirname "$0")/.."

npm ci --prefix testdata/node --no-audit --no-fund --loglevel=error
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
  echo "gofmt needed on:"; echo "$unformatted"; exit 1
fi
go vet ./...
go test -race -count=1 ./...
