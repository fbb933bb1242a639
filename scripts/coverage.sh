#!/usr/bin/env bash
# Line coverage of src/. `npm run coverage` runs the README's test command with V8 coverage on
# (NODE_V8_COVERAGE, which test/support/process.ts hands to every server and CLI the tests
# spawn) and reports; `scripts/coverage.sh report DIR` reports on coverage already collected in
# DIR (.ci/run collects it during its SQLite run). Both fail when line coverage is below the floor.
set -euo pipefail
cd "$(dirname "$0")/.."

# The floor CI holds, a little below what is measured: 96.79 % of lines (16843/17401) in a run on
# SQLite and PostgreSQL with Redis, and 97.07 % (18531/19090) in CI's own SQLite run after the
# v3, hostile-input and password-lock work. Raise it as tests grow.
FLOOR_LINES=95

report() {
  npx c8 report --temp-directory "$1" --reports-dir "$1/report" --reporter text-summary \
    --all --src src --include 'src/**' --include 'dist/src/**' --exclude-after-remap \
    --extension .ts --extension .tsx --check-coverage --lines "$FLOOR_LINES"
}

if [ "${1:-}" = report ]; then
  report "$2"
  exit
fi
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
status=0
NODE_V8_COVERAGE="$dir" npm test || status=$?
report "$dir" || status=$?
exit "$status"
