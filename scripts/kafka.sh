#!/usr/bin/env bash
# Run a real single-node Apache Kafka broker (KRaft, combined broker+controller) on 127.0.0.1,
# built from Kafka's Maven Central jars: there is no Docker and no tarball download here, but
# Java 17 and Maven are available.
#
#   bash scripts/kafka.sh start    # resolve jars (first time), fresh data dir, start, wait until ready
#   bash scripts/kafka.sh stop     # SIGTERM, then SIGKILL after a timeout
#   bash scripts/kafka.sh restart  # stop, then start again on the same data dir (topics, offsets
#                                  # and committed group positions survive; used by fault tests)
#   bash scripts/kafka.sh status   # exit 0 if a broker answers metadata on the port
#   bash scripts/kafka.sh jars     # resolve the jars (first time) and print their directory
#                                  # (scripts/clusters/kafka.sh runs its nodes from them)
#
# Env: KAFKA_PORT (default 9092), KAFKA_CONTROLLER_PORT (default 9093),
#      KAFKA_READY_TIMEOUT seconds (default 120).
#
# Why Kafka 3.9.x and not 4.x: the client is kafkajs 2.2.4, whose CI only ever ran against old
# brokers. Kafka 4.0 removed many old protocol versions (KIP-896). kafkajs negotiates
# min(its max, broker max) per API and its maxima (Produce 7, Fetch 11, JoinGroup 5, ...) are
# probably above 4.x's new minimums, but 3.9 still accepts every old version, so it is the
# safe choice. 3.9.2 is the latest 3.9 patch on Maven Central.
#
# message.max.bytes is left at the broker default (1048588 bytes, ~1 MiB per record batch):
# bigger batches are rejected with MESSAGE_TOO_LARGE.
set -euo pipefail

KAFKA_VERSION=3.9.2
SCALA_VERSION=2.13
PORT="${KAFKA_PORT:-9092}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
READY_TIMEOUT="${KAFKA_READY_TIMEOUT:-120}"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$ROOT/.cache/kafka"
DIST="$CACHE/$KAFKA_VERSION"
LIB="$DIST/lib"
RUN="$CACHE/run"
PIDFILE="$RUN/kafka.pid"
LOG="$RUN/broker.log"

log() { echo "[kafka] $*" >&2; }
die() { echo "[kafka] ERROR: $*" >&2; exit 1; }

# Talk to the broker with no JVM start and no node_modules: send one raw request (given as a
# printf escape string) over bash's /dev/tcp and print the response body as decimal bytes.
# Request headers are v1 (api_key, api_version, correlation_id=1, client_id="probe"); only
# non-flexible API versions are used, so no tagged fields are needed.
kafka_call() {
  timeout 3 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf "$2" >&3
    size=$(head -c 4 <&3 | od -An -tu1 | awk "{print \$1*16777216+\$2*65536+\$3*256+\$4}")
    [ "${size:-0}" -gt 0 ] || exit 1
    head -c "$size" <&3 | od -An -tu1 -v | tr -s " \n" " "
  ' _ "$PORT" "$1" 2>/dev/null
}

# Readiness: Metadata v4 (accepted by 3.x and 4.x; 4.0 dropped v0-3), all topics. The broker only
# lists itself once it is unfenced, so finding "127.0.0.1" in the reply means metadata is really
# served, not just that the port accepts connections.
probe() {
  local resp
  # size=20 | api_key=3 | api_version=4 | correlation_id=1 | client_id | topics=null | no auto-create
  resp="$(kafka_call '\x00\x00\x00\x14\x00\x03\x00\x04\x00\x00\x00\x01\x00\x05probe\xff\xff\xff\xff\x00')" || return 1
  [[ " $resp " == *" 49 50 55 46 48 46 48 46 49 "* ]]
}

# Warm-up, so the first test does not pay for lazy broker-side setup (kafkajs retries these, but
# logs them at ERROR and loses a few hundred ms):
#  - FindCoordinator v1 for a group (key_type 0) and a transactional id (key_type 1) creates
#    __consumer_offsets / __transaction_state; otherwise COORDINATOR_NOT_AVAILABLE on first use.
#  - InitProducerId v1 without a transactional id (what an idempotent producer sends) makes the
#    broker fetch a block of producer ids from the controller; otherwise COORDINATOR_LOAD_IN_PROGRESS.
# Done once all three answer error_code 0, which in all three v1 responses sits at body bytes 8-9
# (after correlation_id and throttle_time_ms).
warmed_up() {
  local req resp b
  for req in \
    '\x00\x00\x00\x18\x00\x0a\x00\x01\x00\x00\x00\x01\x00\x05probe\x00\x06warmup\x00' \
    '\x00\x00\x00\x18\x00\x0a\x00\x01\x00\x00\x00\x01\x00\x05probe\x00\x06warmup\x01' \
    '\x00\x00\x00\x15\x00\x16\x00\x01\x00\x00\x00\x01\x00\x05probe\xff\xff\x00\x00\xea\x60'; do
    # FindCoordinator: size=24 | api_key=10 | v1 | corr | client_id | key="warmup" | key_type
    # InitProducerId:  size=21 | api_key=22 | v1 | corr | client_id | transactional_id=null | timeout=60000
    resp="$(kafka_call "$req")" || return 1
    read -r -a b <<<"$resp"
    [ "${#b[@]}" -ge 10 ] && [ "${b[8]}" = 0 ] && [ "${b[9]}" = 0 ] || return 1
  done
}

port_open() { timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null; }

# The pid from the pid file, if that process is still our broker (a recycled pid must not be
# signalled by stop).
our_pid() {
  local pid
  [ -f "$PIDFILE" ] || return 1
  pid="$(cat "$PIDFILE")"
  [ -n "$pid" ] && tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -q "kafka\.Kafka $RUN/" \
    && echo "$pid"
}

# Resolve kafka_2.13 and its runtime deps with a throwaway pom. The marker is written only after
# a complete copy, so an interrupted download is redone instead of leaving a half-filled lib/.
resolve() {
  [ -f "$DIST/.resolved" ] && return 0
  command -v mvn >/dev/null || die "mvn not found"
  log "resolving Kafka $KAFKA_VERSION from Maven Central into $LIB (first run only)"
  rm -rf "$LIB"
  mkdir -p "$DIST"
  # slf4j-reload4j: Kafka 3.9's POM carries only slf4j-api; without a binding the broker is silent.
  cat >"$DIST/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.proxystream</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>$KAFKA_VERSION</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_$SCALA_VERSION</artifactId>
      <version>$KAFKA_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-reload4j</artifactId>
      <version>1.7.36</version>
    </dependency>
    <dependency>
      <groupId>ch.qos.reload4j</groupId>
      <artifactId>reload4j</artifactId>
      <version>1.2.25</version>
    </dependency>
  </dependencies>
</project>
EOF
  # Output goes to a file: start's stdout is reserved for the KAFKA_BROKERS= line, and even
  # with -q mvn 3.8 prints stray ANSI reset codes.
  (cd "$DIST" && mvn -B -q dependency:copy-dependencies \
    -DoutputDirectory=lib -DincludeScope=runtime >"$DIST/mvn.log" 2>&1) \
    || { tail -n 40 "$DIST/mvn.log" >&2; die "mvn dependency resolution failed (log: $DIST/mvn.log)"; }
  ls "$LIB"/kafka_"$SCALA_VERSION"-"$KAFKA_VERSION".jar >/dev/null || die "kafka jar missing in $LIB"
  touch "$DIST/.resolved"
}

write_config() {
  mkdir -p "$RUN/data"
  cat >"$RUN/server.properties" <<EOF
process.roles=broker,controller
node.id=1
# Static quorum: 4.x refuses 'format --standalone' when voters are set, 3.9 is fine either way.
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$RUN/data
# One node: every internal topic must have RF 1 or group/transaction coordinators never appear.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
default.replication.factor=1
num.partitions=1
auto.create.topics.enable=true
# Default 3 s delay makes every first consumer-group join in tests 3 s slower.
group.initial.rebalance.delay.ms=0
# Default 128 MiB dedupe buffer is taken from the heap at start; too much for -Xmx512m.
log.cleaner.dedupe.buffer.size=33554432
num.network.threads=2
num.io.threads=2
EOF
  # WARN everywhere keeps the log readable; KafkaRaftServer at INFO so "Kafka Server started"
  # shows up, which is what start waits for.
  cat >"$RUN/log4j.properties" <<'EOF'
log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaRaftServer=INFO
EOF
}

JAVA_OPTS=(-Djava.awt.headless=true "-Dlog4j.configuration=file:$RUN/log4j.properties"
  "-Dkafka.logs.dir=$RUN")

start() { # [keep]: reuse the existing data dir instead of a fresh one
  local keep=${1:-}
  if probe; then
    log "a broker already answers on 127.0.0.1:$PORT; nothing to do"
    echo "KAFKA_BROKERS=127.0.0.1:$PORT"
    return 0
  fi
  local pid
  if pid="$(our_pid)"; then
    # Alive but not answering: a stuck previous run; replace it rather than guess.
    log "stale broker pid $pid is not answering; stopping it"
    stop
  fi
  for p in "$PORT" "$CONTROLLER_PORT"; do
    port_open "$p" && die "port $p is in use by something that is not a ready Kafka broker"
  done
  command -v java >/dev/null || die "java not found"
  resolve

  if [ "$keep" = keep ] && [ -f "$RUN/data/meta.properties" ]; then
    # Restart: same data dir, same cluster id (in meta.properties), so the log survives.
    write_config
  else
    # Fresh runtime dir each start: no stale locks, no leftover topics/offsets between runs.
    rm -rf "$RUN"
    write_config

    # Cluster id: 16 random bytes as base64url (what StorageTool random-uuid prints), made here to
    # save a JVM start. Passed as --cluster-id=... so an id starting with '-' is not read as a flag.
    local cluster_id
    cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
    java "${JAVA_OPTS[@]}" -cp "$LIB/*" kafka.tools.StorageTool format \
      "--cluster-id=$cluster_id" -c "$RUN/server.properties" --ignore-formatted >"$RUN/format.log" 2>&1 \
      || { cat "$RUN/format.log" >&2; die "storage format failed"; }
  fi

  log "starting Kafka $KAFKA_VERSION on 127.0.0.1:$PORT (controller $CONTROLLER_PORT)"
  # setsid: detach from the caller's process group so a Ctrl-C in the calling shell or a test
  # runner killing its group does not take the broker down mid-run.
  setsid java -Xms256m -Xmx512m -XX:+UseSerialGC "${JAVA_OPTS[@]}" -cp "$LIB/*" \
    kafka.Kafka "$RUN/server.properties" >"$LOG" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$PIDFILE"

  local deadline=$((SECONDS + READY_TIMEOUT))
  until grep -q "Kafka Server started" "$LOG" 2>/dev/null && probe && warmed_up; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 50 "$LOG" >&2
      die "broker exited during startup (log: $LOG)"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail -n 50 "$LOG" >&2
      stop || true
      die "broker not ready within ${READY_TIMEOUT}s (log: $LOG)"
    fi
    sleep 0.2
  done
  log "ready (pid $pid, log $LOG)"
  echo "KAFKA_BROKERS=127.0.0.1:$PORT"
}

stop() {
  local pid
  if ! pid="$(our_pid)"; then
    rm -f "$PIDFILE"
    log "not running"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  # A clean KRaft shutdown takes a few seconds; after 30 s just kill it (a restart then recovers
  # the log from the data dir).
  for _ in $(seq 1 150); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "pid $pid did not exit after SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
  rm -f "$PIDFILE"
  log "stopped (pid $pid)"
}

status() {
  local pid
  if probe; then
    pid="$(our_pid)" && log "running (pid $pid) on 127.0.0.1:$PORT" \
      || log "a broker (not started by this script) answers on 127.0.0.1:$PORT"
    return 0
  fi
  if pid="$(our_pid)"; then
    log "pid $pid alive but not answering on 127.0.0.1:$PORT"
  else
    log "not running"
  fi
  return 1
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  restart)
    stop
    start keep
    ;;
  status) status ;;
  jars)
    resolve
    echo "$LIB"
    ;;
  *) echo "usage: $0 start|stop|restart|status|jars" >&2; exit 2 ;;
esac
