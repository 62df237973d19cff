#!/usr/bin/env bash
# The project's one test command: set-up, real brokers on 127.0.0.1, every test, then a last line
# "N passed, N failed" taken from vitest's own JSON report. Extra arguments go to vitest.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/setup.sh
pnpm exec biome check . >&2
pnpm exec publint --version >/dev/null
for dir in packages/*/; do (cd "$dir" && pnpm exec publint --strict >&2); done

started=()
cleanup() { [ ${#started[@]} -eq 0 ] || bash scripts/brokers.sh stop "${started[@]}" || true; }
trap cleanup EXIT
for broker in redis nats kafka redis_auth nats_auth; do
  # Brokers that already run (a developer's, or given by *_URL variables) are used and left running.
  if bash scripts/brokers.sh running "$broker" 2>/dev/null; then continue; fi
  bash scripts/brokers.sh start "$broker"
  started+=("$broker")
done

report="$ROOT/.cache/vitest-report.json"
mkdir -p "$(dirname "$report")"
rm -f "$report"
status=0
pnpm exec vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?

# Stop the brokers now, so that the counts line below is the last thing printed.
cleanup >&2
started=()

if [ ! -s "$report" ]; then
  echo "vitest wrote no report (exit $status)" >&2
  echo "0 passed, 1 failed"
  exit 1
fi
node -e '
  const r = require(process.argv[1]);
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed` +
    (r.numPendingTests + r.numTodoTests > 0 ? `, ${r.numPendingTests + r.numTodoTests} skipped` : ""));
' "$report"
exit $status
