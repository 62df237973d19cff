# The Redis Cluster of the cluster tests, sourced by scripts/clusters.sh: 3 masters + 3 replicas
# of Debian's redis-server 7.0 on 127.0.0.1:7000–7005 (cluster bus 17000–17005), append-only
# files, and a node timeout of 2 s so that a replica takes over a killed master within seconds.
# Each node keeps its data, nodes.conf, pid file and log in $CLUSTER_CACHE/redis/<port>/.
# REDIS_CLUSTER_URLS (comma-separated redis:// URLs) points the tests at another cluster instead.

REDIS_CLUSTER_PORTS=(7000 7001 7002 7003 7004 7005)
REDIS_CLUSTER_DIR="$CLUSTER_CACHE/redis"

redis_cluster_cli() { # port, args...
  local port=$1; shift
  timeout 5 redis-cli -h 127.0.0.1 -p "$port" "$@" 2>/dev/null
}

redis_cluster_node_up() { [ "$(redis_cluster_cli "$1" ping)" = PONG ]; }

redis_cluster_known_port() { # port
  case " ${REDIS_CLUSTER_PORTS[*]} " in *" $1 "*) ;; *) die "no Redis Cluster node on port '$1' (nodes: ${REDIS_CLUSTER_PORTS[*]})" ;; esac
}

redis_cluster_node_start() { # port: starts one node on its data directory
  local port=$1 dir="$REDIS_CLUSTER_DIR/$1"
  mkdir -p "$dir"
  redis-server --bind 127.0.0.1 --port "$port" --daemonize yes --dir "$dir" \
    --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
    --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000 \
    --cluster-announce-ip 127.0.0.1 --cluster-replica-validity-factor 0 \
    --save '' --appendonly yes --appendfsync everysec \
    --maxmemory 256mb --io-threads 1 >/dev/null
  wait_until 30 "redis cluster node $port" redis_cluster_node_up "$port"
}

# The client ports of the nodes: the user's cluster's (from REDIS_CLUSTER_URLS) or the local ones.
redis_cluster_nodes() {
  if [ -n "${REDIS_CLUSTER_URLS:-}" ]; then
    echo "$REDIS_CLUSTER_URLS" | tr ',' '\n' | sed -E 's#^[a-z]+://##; s#^.*@##; s#/.*$##; s#^.*:##' |
      paste -sd' ' -
  else
    echo "${REDIS_CLUSTER_PORTS[*]}"
  fi
}

redis_cluster_urls() {
  if [ -n "${REDIS_CLUSTER_URLS:-}" ]; then
    echo "$REDIS_CLUSTER_URLS"
  else
    local port urls=()
    for port in "${REDIS_CLUSTER_PORTS[@]}"; do urls+=("redis://127.0.0.1:$port"); done
    (IFS=,; echo "${urls[*]}")
  fi
}

# Serving: some live node says cluster_state:ok, and every master that owns slots answers (right
# after a master's death the others still count it as up for the node timeout, and a master
# flagged fail keeps its slots until a replica takes them).
redis_cluster_serving() {
  local port nodes
  for port in $(redis_cluster_nodes); do
    redis_cluster_cli "$port" cluster info | grep -q '^cluster_state:ok' || continue
    nodes=$(redis_cluster_cli "$port" cluster nodes) || continue
    # Fields: id addr flags master ping pong epoch link slots…; a master with slots has field 9.
    local addr ok=1
    for addr in $(echo "$nodes" | awk '$3 ~ /master/ && NF >= 9 { sub(/@.*/, "", $2); print $2 }'); do
      [ "$(timeout 5 redis-cli -h "${addr%:*}" -p "${addr##*:}" ping 2>/dev/null)" = PONG ] || { ok=0; break; }
    done
    [ $ok = 1 ] && return 0
  done
  return 1
}

# Whole: serving, and every node up and seeing all 6 connected and flagged neither fail nor fail?:
# 3 masters with slots and 3 replicas, each replica's link to its master up (so that a master
# killed next has a replica in sync to take over).
redis_cluster_whole() {
  redis_cluster_serving || return 1
  local port nodes
  for port in $(redis_cluster_nodes); do
    redis_cluster_node_up "$port" || return 1
    nodes=$(redis_cluster_cli "$port" cluster nodes) || return 1
    [ "$(echo "$nodes" | awk '$8 == "connected" && $3 !~ /fail/' | wc -l)" -eq 6 ] || return 1
    [ "$(echo "$nodes" | awk '$3 ~ /master/ && NF >= 9' | wc -l)" -eq 3 ] || return 1
    [ "$(echo "$nodes" | awk '$3 ~ /slave/' | wc -l)" -eq 3 ] || return 1
    if redis_cluster_cli "$port" info replication | grep -q '^role:slave'; then
      redis_cluster_cli "$port" info replication | grep -q '^master_link_status:up' || return 1
    fi
  done
}

redis_cluster_running() { redis_cluster_serving; }

# Polls every 50 ms (not wait_until's 200 ms): the failover cases measure from this moment.
redis_cluster_wait() {
  local deadline=$((SECONDS + 60))
  until redis_cluster_serving; do
    [ $SECONDS -lt $deadline ] || die "the Redis Cluster did not serve again within 60s"
    sleep 0.05
  done
}

redis_cluster_start() {
  command -v redis-server >/dev/null || apt_install redis-server
  if redis_cluster_serving; then log "redis cluster already serves on ${REDIS_CLUSTER_PORTS[*]}"; return 0; fi
  redis_cluster_stop
  rm -rf "$REDIS_CLUSTER_DIR"
  local port addresses=()
  for port in "${REDIS_CLUSTER_PORTS[@]}"; do
    redis_cluster_node_start "$port"
    addresses+=("127.0.0.1:$port")
  done
  # Masters are the first three; each replica is placed on another master's node by redis-cli.
  redis-cli --cluster create "${addresses[@]}" --cluster-replicas 1 --cluster-yes >"$REDIS_CLUSTER_DIR/create.log" 2>&1 ||
    die "redis-cli --cluster create failed: see $REDIS_CLUSTER_DIR/create.log"
  wait_until 60 "the Redis Cluster (all 6 nodes joined)" redis_cluster_whole
  log "redis cluster ready: REDIS_CLUSTER_URLS=$(redis_cluster_urls)"
}

redis_cluster_stop() {
  local port
  for port in "${REDIS_CLUSTER_PORTS[@]}"; do
    # SIGTERM (then SIGKILL after 10 s): redis-server flushes its append-only file and exits.
    stop_pidfile "$REDIS_CLUSTER_DIR/$port/redis.pid" "redis cluster node $port"
  done
}

redis_cluster_kill() { # port
  redis_cluster_known_port "$1"
  kill_pidfile "$REDIS_CLUSTER_DIR/$1/redis.pid" "redis cluster node $1"
}

redis_cluster_restart() { # port
  redis_cluster_known_port "$1"
  if ! redis_cluster_node_up "$1"; then
    [ -f "$REDIS_CLUSTER_DIR/$1/nodes.conf" ] || die "redis cluster node $1 has no data to restart from: start the cluster first"
    redis_cluster_node_start "$1"
  fi
  wait_until 90 "the Redis Cluster (node $1 back, all 6 connected)" redis_cluster_whole
  log "redis cluster node $1 restarted; cluster whole"
}
