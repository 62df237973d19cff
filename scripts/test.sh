#!/usr/bin/env bash
# The project's one test command: set-up, real brokers on 127.0.0.1, every test on each tested
# Node.js (the pinned 22 and 24 of scripts/node.sh), then a last line "N passed, N failed" summed
# from vitest's own JSON reports. Extra arguments go to vitest.
#   PROXYSTREAM_NODE=22 bash scripts/test.sh       # one version only (or "22 24"; default: all)
#   PROXYSTREAM_NODE=system bash scripts/test.sh   # the node on PATH, whatever its version
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# Node.js 22 or later for everything but the runs below (the default, as in setup.sh).
PATH="$(bash scripts/node.sh path)"
nodes=${PROXYSTREAM_NODE:-}
[ -n "${nodes//[ ,]/}" ] || nodes=$(bash scripts/node.sh majors)
read -r -a majors <<<"${nodes//,/ }"
# Fetched before anything runs, so that a missing version fails in seconds, not after one run.
for major in "${majors[@]}"; do [ "$major" = system ] || bash scripts/node.sh bin "$major" >/dev/null; done

bash scripts/setup.sh
pnpm exec biome check . >&2
pnpm exec publint --version >/dev/null
for dir in packages/*/; do (cd "$dir" && pnpm exec publint --strict >&2); done

started=()
cleanup() { [ ${#started[@]} -eq 0 ] || bash scripts/brokers.sh stop "${started[@]}" || true; }
trap cleanup EXIT
# Every broker scripts/brokers.sh knows (a new broker is one entry there).
read -r -a brokers <<<"$(bash scripts/brokers.sh list)"
for broker in "${brokers[@]}"; do
  # Brokers that already run (a developer's, or given by *_URL variables) are used and left running.
  if bash scripts/brokers.sh running "$broker" 2>/dev/null; then continue; fi
  bash scripts/brokers.sh start "$broker"
  started+=("$broker")
done

mkdir -p "$ROOT/.cache"
status=0
reports=()
for major in "${majors[@]}"; do
  report="$ROOT/.cache/vitest-report-node-$major.json"
  rm -f "$report"
  reports+=("$report")
  bin=$(dirname "$(command -v node)")
  [ "$major" = system ] || bin=$(bash scripts/node.sh bin "$major")
  echo "[test] vitest on Node.js $("$bin/node" --version) ($bin/node)"
  PATH="$bin:$PATH" pnpm exec vitest run --reporter=default --reporter=json \
    --outputFile.json="$report" "$@" || status=$?
  [ -s "$report" ] || echo "[test] vitest on Node.js $major wrote no report" >&2
done

# Stop the brokers now, so that the counts line below is the last thing printed.
cleanup >&2
started=()

# A run without a report counts as one failed test.
node -e '
  const fs = require("node:fs");
  let passed = 0, failed = 0, skipped = 0;
  for (const file of process.argv.slice(1)) {
    if (!fs.existsSync(file) || fs.statSync(file).size === 0) { failed += 1; continue; }
    const r = JSON.parse(fs.readFileSync(file, "utf8"));
    passed += r.numPassedTests;
    failed += r.numFailedTests;
    skipped += r.numPendingTests + r.numTodoTests;
  }
  console.log(`${passed} passed, ${failed} failed` + (skipped > 0 ? `, ${skipped} skipped` : ""));
  process.exitCode = failed > 0 ? 1 : 0;
' "${reports[@]}" || status=1
exit $status
