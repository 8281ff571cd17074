#!/usr/bin/env bash
# Runs every test of tend: installs the Node fixtures' packages, checks
# formatting and vet, then runs the whole suite with the race detector.
set -euo pipefail
cd "$(dirname "$0")/.."

npm ci --prefix testdata/node --no-audit --no-fund --loglevel=error
npm ci --prefix bench --no-audit --no-fund --loglevel=error  # the real PM2, for e2e/pm2_test.go
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
  echo "gofmt needed on:"; echo "$unformatted"; exit 1
fi
go vet ./...
# e2e packs and deploys real releases and runs a fleet: more than the default 10 minutes.
go test -race -count=1 -timeout 30m ./...
