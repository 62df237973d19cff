#!/usr/bin/env bash
# pnpm bench [--quick] [--only overhead,latency,bulk,scaling,memory,anchor,breakdown] [--transports ...]
#            [--clusters | --no-clusters]
#
# Sets the project up, starts the brokers it needs on 127.0.0.1 (left running; BENCH_STOP_BROKERS=1
# stops at exit those it started), creates the ProxyStore venv for the anchor
# section, builds bench/ and runs it; the result is BENCHMARKS.md at the root (charts in
# bench/charts/). The clusters of scripts/clusters.sh (cluster rows of the overhead and latency
# sections; not with --no-clusters; with --quick only for --clusters or a --transports list naming
# a *-cluster transport) are started by the bench when their rows come and stopped at the end of
# the section, so that none runs while single brokers are measured. Nothing here is a test.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# Node.js 22 or later: an older system node gives way to the pinned 22 from scripts/node.sh.
PATH="$(bash scripts/node.sh path)"
log() { echo "[bench] $*" >&2; }

# Setup builds every package; a shim that does not build yet is reported by the bench as
# "not available", so a failed build is a warning here, not the end of the run.
if ! bash scripts/setup.sh; then
  log "WARNING: scripts/setup.sh failed; building what builds and going on"
  pnpm --filter './packages/*' --no-bail build >&2 || true
fi

# Brokers: remember which ones answered before, stop only the others at exit.
started=()
redis_up() { [ -n "${REDIS_URL:-}" ] || [ "$(redis-cli -h 127.0.0.1 -p "${REDIS_PORT:-6379}" ping 2>/dev/null)" = PONG ]; }
nats_up() { [ -n "${NATS_URL:-}" ] || curl -fsS "http://127.0.0.1:${NATS_MONITOR_PORT:-8222}/healthz" >/dev/null 2>&1; }
kafka_up() { [ -n "${KAFKA_BROKERS:-}" ] || bash scripts/kafka.sh status >/dev/null 2>&1; }
for broker in redis nats kafka; do
  if ! "${broker}_up"; then started+=("$broker"); fi
done
# Brokers are shared with other sessions (whose fault tests restart them): one that was down for a
# moment when this run began is not this run's to stop. Stop at exit only with BENCH_STOP_BROKERS=1.
# Clusters not running now: the bench starts them for the cluster rows (bench/src/cluster-lifecycle.ts).
clusters_started=()
for cluster in $(bash scripts/clusters.sh list); do
  if ! bash scripts/clusters.sh running "$cluster" >/dev/null 2>&1; then clusters_started+=("$cluster"); fi
done
cleanup() {
  if [ "${BENCH_STOP_BROKERS:-0}" = 1 ] && [ ${#started[@]} -gt 0 ]; then
    log "stopping the brokers this run started: ${started[*]}"
    bash scripts/brokers.sh stop "${started[@]}" || true
  fi
  # The bench stops each cluster it started at the end of its section; one still running here
  # belongs to a run that was cut short (it was not running when this run began).
  local leftover=()
  for cluster in "${clusters_started[@]}"; do
    if bash scripts/clusters.sh running "$cluster" >/dev/null 2>&1; then leftover+=("$cluster"); fi
  done
  if [ ${#leftover[@]} -gt 0 ]; then
    log "stopping the clusters this run left running: ${leftover[*]}"
    bash scripts/clusters.sh stop "${leftover[@]}" || true
  fi
}
trap cleanup EXIT INT TERM
bash scripts/brokers.sh start redis nats kafka

# ProxyStore for the anchor section, in a git-ignored venv (.cache/ is ignored).
VENV="$ROOT/.cache/bench-venv"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import proxystore, redis' 2>/dev/null; then
  log "creating $VENV with proxystore[redis] from PyPI"
  if python3 -m venv "$VENV" && "$VENV/bin/pip" install --quiet --disable-pip-version-check 'proxystore[redis]' >&2; then
    :
  else
    log "WARNING: could not install ProxyStore; the anchor section will say so"
  fi
fi

pnpm --filter @proxystream/bench run build >&2
BENCH_COMMAND="pnpm bench${*:+ $*}" node --expose-gc bench/dist/main.js "$@"
