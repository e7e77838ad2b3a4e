#!/usr/bin/env bash
# The project's test command: starts what the tests need, checks formatting
# and vet, then runs every test (with the race detector) against the real
# PostgreSQL. Each test creates and drops its own database.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/postgres.sh
bash scripts/chromium.sh
bash scripts/nats.sh

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:" >&2
  echo "$unformatted" >&2
  exit 1
fi
go vet ./...
go test -race -count=1 "$@" ./...
