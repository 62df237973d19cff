#!/usr/bin/env bash
# The project's one test command: set-up, real brokers on 127.0.0.1, every test on each tested
# Node.js (the pinned 22 and 24 of scripts/node.sh), then a last line "N passed, N failed" summed
# from vitest's own JSON reports. Extra arguments go to vitest.
#   PROXYSTREAM_NODE=22 bash scripts/test.sh       # one version only (or "22 24"; default: all)
#   PROXYSTREAM_NODE=system bash scripts/test.sh   # the node on PATH, whatever its version
#   PROXYSTREAM_CLUSTERS=0 bash scripts/test.sh     # without the cluster tests (they run by default,
#                                                   # once, on the first version, after the others)
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
clusters=()
cleanup() { [ ${#started[@]} -eq 0 ] || bash scripts/brokers.sh stop "${started[@]}" || true; }
cleanup_clusters() { [ ${#clusters[@]} -eq 0 ] || bash scripts/clusters.sh stop "${clusters[@]}" || true; }
trap 'cleanup; cleanup_clusters' EXIT
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

# Stop the brokers now: the clusters below need the machine, and the counts line below must be
# the last thing printed.
cleanup >&2
started=()

# The cluster tests (packages/*/test/cluster/, vitest.cluster.config.ts): every cluster
# scripts/clusters.sh knows, started here unless it runs already or its URL variable names the
# user's, then the tests once, on the first tested Node.js. Extra vitest arguments select among
# the other tests, so a run given some does not run these.
if [ "${PROXYSTREAM_CLUSTERS:-1}" != 0 ] && [ $# -eq 0 ]; then
  read -r -a names <<<"$(bash scripts/clusters.sh list)"
  for name in "${names[@]}"; do
    if bash scripts/clusters.sh running "$name" 2>/dev/null; then continue; fi
    clusters+=("$name")
    bash scripts/clusters.sh start "$name" || status=1
  done
  # The descriptors default to the local clusters; the URL variables stay unset unless the user
  # gave them (a set variable means "the user's cluster": scripts/clusters.sh would not kill it).
  major=${majors[0]}
  report="$ROOT/.cache/vitest-report-clusters.json"
  rm -f "$report"
  reports+=("$report")
  bin=$(dirname "$(command -v node)")
  [ "$major" = system ] || bin=$(bash scripts/node.sh bin "$major")
  echo "[test] cluster tests on Node.js $("$bin/node" --version)"
  PATH="$bin:$PATH" pnpm exec vitest run --config vitest.cluster.config.ts --reporter=default \
    --reporter=json --outputFile.json="$report" || status=$?
  [ -s "$report" ] || echo "[test] the cluster tests wrote no report" >&2
  cleanup_clusters >&2
  clusters=()
fi

# A run without a report counts as one failed test. Each failed test is named, with the first line
# of its error, just above the counts, so that the tail of a CI log says what failed.
node -e '
  const fs = require("node:fs");
  const path = require("node:path");
  let passed = 0, failed = 0, skipped = 0;
  for (const file of process.argv.slice(1)) {
    const run = path.basename(file, ".json").replace(/^vitest-report-/, "");
    if (!fs.existsSync(file) || fs.statSync(file).size === 0) {
      failed += 1;
      console.log(`[test] failed (${run}): no report`);
      continue;
    }
    const r = JSON.parse(fs.readFileSync(file, "utf8"));
    passed += r.numPassedTests;
    failed += r.numFailedTests;
    skipped += r.numPendingTests + r.numTodoTests;
    for (const suite of r.testResults ?? []) {
      const where = path.relative(process.cwd(), suite.name);
      const tests = (suite.assertionResults ?? []).filter((t) => t.status === "failed");
      if (tests.length === 0 && suite.status === "failed") {
        const why = String(suite.message ?? "").split("\n").find((l) => l.trim() !== "") ?? "";
        console.log(`[test] failed (${run}): ${where}: ${why.trim().slice(0, 300)}`);
      }
      for (const t of tests) {
        const why = String(t.failureMessages?.[0] ?? "").split("\n")[0].trim().slice(0, 300);
        console.log(`[test] failed (${run}): ${where} > ${t.fullName}: ${why}`);
      }
    }
  }
  console.log(`${passed} passed, ${failed} failed` + (skipped > 0 ? `, ${skipped} skipped` : ""));
  process.exitCode = failed > 0 ? 1 : 0;
' "${reports[@]}" || status=1
exit $status
