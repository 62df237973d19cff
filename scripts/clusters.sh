#!/usr/bin/env bash
# Start, stop, kill and restart the broker clusters of the cluster tests, on 127.0.0.1 only.
#
#   bash scripts/clusters.sh start [redis] [nats] [kafka]   # default: all three; waits until healthy
#   bash scripts/clusters.sh stop [redis] [nats] [kafka]
#   bash scripts/clusters.sh kill redis|nats|kafka NODE     # SIGKILL one node (NODE: its client port)
#   bash scripts/clusters.sh restart redis|nats|kafka NODE  # start a killed node again on its data,
#                                                           # and wait until the cluster is whole
#   bash scripts/clusters.sh wait redis|nats|kafka          # until the cluster serves (a node may be down)
#   bash scripts/clusters.sh nodes redis|nats|kafka         # the client ports of its nodes
#   bash scripts/clusters.sh urls redis|nats|kafka          # the value of its URL variable
#   bash scripts/clusters.sh running redis|nats|kafka       # exit 0 if it runs and serves
#   bash scripts/clusters.sh list                           # every cluster the tests need
#
# The clusters: Redis Cluster of 3 masters + 3 replicas (REDIS_CLUSTER_URLS), 3 NATS nodes with
# JetStream (NATS_CLUSTER_URLS), 3 Kafka KRaft nodes with replication 3 and
# min.insync.replicas=2 (KAFKA_CLUSTER_BROKERS). Each URL variable is a comma-separated list of
# nodes; a cluster whose variable is already set is the user's: `start` uses it as given, and
# `stop`, `kill` and `restart` refuse (exit 1).
#
# A cluster is one file, scripts/clusters/<name>.sh, defining <name>_cluster_start, _stop,
# _kill NODE, _restart NODE, _wait, _nodes, _urls and _running, with the helpers below.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CLUSTER_CACHE="$ROOT/.cache/clusters"
ALL_CLUSTERS=(redis nats kafka)
mkdir -p "$CLUSTER_CACHE"

LOG_PREFIX=clusters
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

# SIGKILL a pid file's process and wait until it is gone; keeps its data.
kill_pidfile() { # pidfile, name
  local pidfile=$1 name=$2 pid
  [ -f "$pidfile" ] || die "$name has no pid file ($pidfile): not started by this script?"
  pid=$(cat "$pidfile")
  kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  rm -f "$pidfile"
  log "$name killed (SIGKILL)"
}

users_cluster() { # name: true when the user set its URL variable
  local variable
  case $1 in
    redis) variable=REDIS_CLUSTER_URLS ;;
    nats) variable=NATS_CLUSTER_URLS ;;
    kafka) variable=KAFKA_CLUSTER_BROKERS ;;
    *) die "unknown cluster '$1' (known: ${ALL_CLUSTERS[*]})" ;;
  esac
  [ -n "${!variable:-}" ]
}

load() { # name
  case " ${ALL_CLUSTERS[*]} " in *" $1 "*) ;; *) die "unknown cluster '$1' (known: ${ALL_CLUSTERS[*]})" ;; esac
  # shellcheck source=/dev/null
  source "$ROOT/scripts/clusters/$1.sh"
}

cmd=${1:-}
shift || true
case "$cmd" in
  list) echo "${ALL_CLUSTERS[*]}" ;;
  start|stop)
    names=("$@"); [ ${#names[@]} -gt 0 ] || names=("${ALL_CLUSTERS[@]}")
    for name in "${names[@]}"; do
      load "$name"
      if users_cluster "$name"; then
        [ "$cmd" = start ] || die "the $name cluster is given by its URL variable; not stopping it"
        log "$name cluster given by its URL variable; using it"
        continue
      fi
      "${name}_cluster_$cmd"
    done
    ;;
  kill|restart)
    name=${1:?usage: clusters.sh $cmd redis|nats|kafka NODE}
    node=${2:?usage: clusters.sh $cmd $name NODE (its client port; see: clusters.sh nodes $name)}
    load "$name"
    users_cluster "$name" && die "the $name cluster is given by its URL variable; not touching it"
    "${name}_cluster_$cmd" "$node"
    ;;
  wait|nodes|urls|running)
    name=${1:?usage: clusters.sh $cmd redis|nats|kafka}
    load "$name"
    "${name}_cluster_$cmd"
    ;;
  *)
    sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
