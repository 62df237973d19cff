# The NATS cluster of the cluster tests, sourced by scripts/clusters.sh: 3 nodes of nats-server
# 2.15 with JetStream, cluster `proxystream`, on 127.0.0.1 only: client ports
# 4250–4252, routes 6250–6252, monitoring 8250–8252. Each node keeps its JetStream store, config,
# pid file and log in $CLUSTER_CACHE/nats/<port>/. NATS_CLUSTER_URLS (comma-separated nats://
# URLs) points the tests at another cluster instead.

NATS_CLUSTER_PORTS=(4250 4251 4252)
NATS_CLUSTER_DIR="$CLUSTER_CACHE/nats"

# The cluster runs a current nats-server, not Debian's 2.9.10: on 2.9 a SIGKILLed stream leader
# lost JetStream publishes it had acknowledged (1 run in 4; docs/reliability.md). Built once by
# the machine's Go from the Go module proxy (about 30 s) into .cache/bin; NATS_CLUSTER_SERVER names
# another binary instead.
NATS_CLUSTER_SERVER_VERSION=v2.15.3
NATS_CLUSTER_SERVER=${NATS_CLUSTER_SERVER:-"$ROOT/.cache/bin/nats-server-$NATS_CLUSTER_SERVER_VERSION"}

nats_cluster_server_install() {
  [ -x "$NATS_CLUSTER_SERVER" ] && return 0
  local go
  go=$(command -v go || true)
  [ -n "$go" ] || [ ! -x /usr/local/go/bin/go ] || go=/usr/local/go/bin/go
  [ -n "$go" ] || die "the NATS cluster needs Go to build nats-server $NATS_CLUSTER_SERVER_VERSION (or NATS_CLUSTER_SERVER=/path/to/nats-server)"
  log "building nats-server $NATS_CLUSTER_SERVER_VERSION with $("$go" version | cut -d' ' -f3)"
  local build="$ROOT/.cache/go"
  mkdir -p "$build/bin" "$(dirname "$NATS_CLUSTER_SERVER")"
  GOPATH="$build" GOBIN="$build/bin" GOFLAGS=-modcacherw \
    "$go" install "github.com/nats-io/nats-server/v2@$NATS_CLUSTER_SERVER_VERSION" >&2 ||
    die "go install nats-server $NATS_CLUSTER_SERVER_VERSION failed"
  mv "$build/bin/nats-server" "$NATS_CLUSTER_SERVER"
}

nats_cluster_known_port() { # port
  case " ${NATS_CLUSTER_PORTS[*]} " in *" $1 "*) ;; *) die "no NATS cluster node on port '$1' (nodes: ${NATS_CLUSTER_PORTS[*]})" ;; esac
}

nats_cluster_monitor() { echo $(($1 + 4000)); } # client port → monitor port (4250 → 8250)
nats_cluster_route() { echo $(($1 + 2000)); }   # client port → route port (4250 → 6250)

nats_cluster_jsz() { # port: the node's /jsz, or nothing when it does not answer
  timeout 3 curl -fsS "http://127.0.0.1:$(nats_cluster_monitor "$1")/jsz" 2>/dev/null
}

nats_cluster_node_up() { # port: the node answers, with JetStream enabled
  timeout 3 curl -fsS "http://127.0.0.1:$(nats_cluster_monitor "$1")/healthz?js-enabled-only=true" >/dev/null 2>&1
}

nats_cluster_node_config() { # port: writes the node's configuration file
  local port=$1 dir="$NATS_CLUSTER_DIR/$1" other routes=()
  for other in "${NATS_CLUSTER_PORTS[@]}"; do
    [ "$other" = "$port" ] || routes+=("nats-route://127.0.0.1:$(nats_cluster_route "$other")")
  done
  cat >"$dir/nats.conf" <<CONF
server_name: n$port
host: 127.0.0.1
port: $port
http: 127.0.0.1:$(nats_cluster_monitor "$port")
pid_file: "$dir/nats.pid"
log_file: "$dir/nats.log"
jetstream { store_dir: "$dir/jetstream", max_memory_store: 256MB, max_file_store: 4GB }
cluster {
  name: proxystream
  host: 127.0.0.1
  port: $(nats_cluster_route "$port")
  routes: [ $(IFS=,; echo "${routes[*]}") ]
}
CONF
}

nats_cluster_node_start() { # port: starts one node on its data directory
  local port=$1 dir="$NATS_CLUSTER_DIR/$1"
  mkdir -p "$dir"
  nats_cluster_node_config "$port"
  setsid "$NATS_CLUSTER_SERVER" -c "$dir/nats.conf" </dev/null >/dev/null 2>&1 &
  wait_until 30 "nats cluster node $port" nats_cluster_node_up "$port"
}

# The client ports of the nodes: the user's cluster's (from NATS_CLUSTER_URLS) or the local ones.
nats_cluster_nodes() {
  if [ -n "${NATS_CLUSTER_URLS:-}" ]; then
    echo "$NATS_CLUSTER_URLS" | tr ',' '\n' | sed -E 's#^[a-z-]+://##; s#^.*@##; s#/.*$##; s#^.*:##' |
      paste -sd' ' -
  else
    echo "${NATS_CLUSTER_PORTS[*]}"
  fi
}

nats_cluster_urls() {
  if [ -n "${NATS_CLUSTER_URLS:-}" ]; then
    echo "$NATS_CLUSTER_URLS"
  else
    local port urls=()
    for port in "${NATS_CLUSTER_PORTS[@]}"; do urls+=("nats://127.0.0.1:$port"); done
    (IFS=,; echo "${urls[*]}")
  fi
}

# Serving: a live node knows a JetStream meta leader that is alive. Right after the leader's
# death the others still name it for a moment; a leader named n<port> (the local nodes) must
# answer itself. A user's cluster names its servers as it likes: its leader is taken as given.
nats_cluster_serving() {
  local port leader
  for port in $(nats_cluster_nodes); do
    leader=$(nats_cluster_jsz "$port" | sed -nE 's/.*"leader": *"([^"]+)".*/\1/p' | head -1)
    [ -n "$leader" ] || continue
    if [[ $leader =~ ^n([0-9]+)$ ]] && [ -z "${NATS_CLUSTER_URLS:-}" ]; then
      nats_cluster_jsz "${BASH_REMATCH[1]}" | grep -q "\"leader\": *\"$leader\"" || continue
    fi
    return 0
  done
  return 1
}

# Whole: every node has JetStream up and knows the meta leader, and the leader lists its 2
# other peers current (so that a node killed next leaves a quorum of peers in sync). Not the
# full /healthz: it also requires every stream and consumer current, and a single stalled
# consumer left by a test would keep the cluster "not whole" for ever.
nats_cluster_whole() {
  local port jsz name leader=''
  for port in $(nats_cluster_nodes); do
    nats_cluster_node_up "$port" || return 1
    jsz=$(nats_cluster_jsz "$port") || return 1
    name=$(echo "$jsz" | sed -nE 's/.*"leader": *"([^"]+)".*/\1/p' | head -1)
    [ -n "$name" ] || return 1
    # A node's /jsz lists the other peers of the meta group (2.9: only the leader's does), so the
    # leader's is the one that lists replicas without the leader among them.
    echo "$jsz" | grep -q '"replicas"' || continue
    echo "$jsz" | grep -Eq "\"name\": *\"$name\"" || leader=$jsz
  done
  [ -n "$leader" ] || return 1
  [ "$(echo "$leader" | grep -Ec '"current": *true')" -ge 2 ] || return 1
  ! echo "$leader" | grep -Eq '"offline": *true'
}

nats_cluster_running() { nats_cluster_serving; }

# Polls every 50 ms (not wait_until's 100 ms): the failover cases measure from this moment.
nats_cluster_wait() {
  local deadline=$((SECONDS + 60))
  until nats_cluster_serving; do
    [ $SECONDS -lt $deadline ] || die "the NATS cluster did not serve again within 60s"
    sleep 0.05
  done
}

nats_cluster_start() {
  nats_cluster_server_install
  if nats_cluster_serving; then log "nats cluster already serves on ${NATS_CLUSTER_PORTS[*]}"; return 0; fi
  nats_cluster_stop
  rm -rf "$NATS_CLUSTER_DIR"
  local port
  for port in "${NATS_CLUSTER_PORTS[@]}"; do
    mkdir -p "$NATS_CLUSTER_DIR/$port"
    nats_cluster_node_config "$port"
    setsid "$NATS_CLUSTER_SERVER" -c "$NATS_CLUSTER_DIR/$port/nats.conf" </dev/null >/dev/null 2>&1 &
  done
  # JetStream is ready on a node only once the meta group elected a leader, so start all three first.
  for port in "${NATS_CLUSTER_PORTS[@]}"; do
    wait_until 60 "nats cluster node $port" nats_cluster_node_up "$port"
  done
  wait_until 60 "the NATS cluster (meta leader, 3 peers current)" nats_cluster_whole
  log "nats cluster ready: NATS_CLUSTER_URLS=$(nats_cluster_urls)"
}

nats_cluster_stop() {
  local port
  for port in "${NATS_CLUSTER_PORTS[@]}"; do
    stop_pidfile "$NATS_CLUSTER_DIR/$port/nats.pid" "nats cluster node $port"
  done
}

nats_cluster_kill() { # port
  nats_cluster_known_port "$1"
  kill_pidfile "$NATS_CLUSTER_DIR/$1/nats.pid" "nats cluster node $1"
}

nats_cluster_restart() { # port
  nats_cluster_known_port "$1"
  if ! nats_cluster_node_up "$1"; then
    [ -d "$NATS_CLUSTER_DIR/$1/jetstream" ] || die "nats cluster node $1 has no data to restart from: start the cluster first"
    rm -f "$NATS_CLUSTER_DIR/$1/nats.pid"
    nats_cluster_node_start "$1"
  fi
  wait_until 90 "the NATS cluster (node $1 back, meta leader, 3 peers current)" nats_cluster_whole
  log "nats cluster node $1 restarted; cluster whole"
}
