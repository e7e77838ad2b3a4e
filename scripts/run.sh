#!/usr/bin/env bash
# Runs the service on 127.0.0.1:8080 after making sure PostgreSQL answers.
# The database (DATABASE_URL, default .../gatehouse) is created and migrated
# at start. Extra arguments go to `gatehouse serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/postgres.sh
go build -o bin/gatehouse ./cmd/gatehouse
exec bin/gatehouse serve "$@"
