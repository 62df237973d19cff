# The Kafka cluster of the cluster tests, sourced by scripts/clusters.sh: 3 Apache Kafka 3.9.2
# KRaft nodes, each a combined broker and controller (a 3-voter quorum), on 127.0.0.1 with client
# ports 9192–9194 and controller ports 9292–9294. Default replication factor 3,
# min.insync.replicas=2 (and the same for the offsets and transaction topics), so one node may
# die without losing an acknowledged (acks=all) record or refusing writes.
# Failure detection is fast: a broker missing its heartbeats for 3 s is fenced and its partitions
# get new leaders; a silent controller leader is replaced after about 1 s.
# Each node: 384 MiB heap, serial GC, 2 network and 2 I/O threads (2 cores are shared).
# Data, config, pid file and log of a node in $CLUSTER_CACHE/kafka/<port>/. The jars are the
# ones scripts/kafka.sh resolves from Maven Central (`bash scripts/kafka.sh jars`).
# KAFKA_CLUSTER_BROKERS (comma-separated host:port) points the tests at another cluster instead.

KAFKA_CLUSTER_PORTS=(9192 9193 9194)
KAFKA_CLUSTER_DIR="$CLUSTER_CACHE/kafka"

kafka_cluster_known_port() { # port → its node id (1–3) on stdout
  local i
  for i in "${!KAFKA_CLUSTER_PORTS[@]}"; do
    if [ "${KAFKA_CLUSTER_PORTS[$i]}" = "$1" ]; then echo $((i + 1)); return 0; fi
  done
  die "no Kafka cluster node on port '$1' (nodes: ${KAFKA_CLUSTER_PORTS[*]})"
}

kafka_cluster_controller_port() { echo $(($1 + 100)); } # client port → controller port

kafka_cluster_nodes() {
  if [ -n "${KAFKA_CLUSTER_BROKERS:-}" ]; then
    echo "$KAFKA_CLUSTER_BROKERS" | tr ',' '\n' | sed -E 's#^.*:##' | paste -sd' ' -
  else
    echo "${KAFKA_CLUSTER_PORTS[*]}"
  fi
}

kafka_cluster_urls() {
  if [ -n "${KAFKA_CLUSTER_BROKERS:-}" ]; then
    echo "$KAFKA_CLUSTER_BROKERS"
  else
    local port brokers=()
    for port in "${KAFKA_CLUSTER_PORTS[@]}"; do brokers+=("127.0.0.1:$port"); done
    (IFS=,; echo "${brokers[*]}")
  fi
}

# Asks the cluster, through kafkajs (the shim's own dependency, no JVM start), whether it is
# `serving` (a controller, at least 2 live brokers, every partition led by a live broker) or
# `whole` (also 3 brokers and every partition's ISR complete). Exit 0 when it is.
kafka_cluster_check() { # serving|whole
  local kafkajs="$ROOT/packages/shim-kafka/node_modules/kafkajs"
  [ -d "$kafkajs" ] || die "kafkajs not installed ($kafkajs): run pnpm install"
  PATH="$(bash "$ROOT/scripts/node.sh" path 2>/dev/null)" timeout 20 node -e '
    const { Kafka, logLevel } = require(process.argv[1]);
    const [, , want, list] = process.argv;
    // One broker at a time: with retries off, a client whose first pick is the dead node fails.
    const reachable = ({ host, port }) => new Promise((resolve) => {
      const socket = require("node:net").connect({ host, port, timeout: 1000 });
      const done = (ok) => { socket.destroy(); resolve(ok); };
      socket.on("connect", () => done(true)).on("error", () => done(false)).on("timeout", () => done(false));
    });
    const check = async (broker) => {
      const admin = new Kafka({
        brokers: [broker], clientId: "clusters-sh", logLevel: logLevel.NOTHING,
        connectionTimeout: 1000, requestTimeout: 3000, retry: { retries: 0 },
      }).admin();
      try {
        await admin.connect();
        const cluster = await admin.describeCluster();
        // A killed broker stays listed until the controller fences it: count those that answer.
        const answering = await Promise.all(cluster.brokers.map((node) => reachable(node)));
        const live = new Set(cluster.brokers.filter((_, i) => answering[i]).map((node) => node.nodeId));
        if (cluster.controller === null || cluster.controller < 0 || live.size < 2) return false;
        if (want === "whole" && live.size < 3) return false;
        const { topics } = await admin.fetchTopicMetadata();
        return topics.every((topic) => topic.partitions.every((partition) =>
          live.has(partition.leader) &&
          (want !== "whole" || partition.isr.length === partition.replicas.length)));
      } finally {
        await admin.disconnect().catch(() => undefined);
      }
    };
    (async () => {
      for (const broker of list.split(",")) {
        if (await check(broker).catch(() => false)) return true;
      }
      return false;
    })().then((ok) => process.exit(ok ? 0 : 1), () => process.exit(1));
  ' "$kafkajs" "$1" "$(kafka_cluster_urls)" >/dev/null 2>&1
}

kafka_cluster_running() { kafka_cluster_check serving; }

kafka_cluster_wait() { wait_until 60 "the Kafka cluster" kafka_cluster_check serving; }

kafka_cluster_write_config() { # node id, port
  local id=$1 port=$2 dir="$KAFKA_CLUSTER_DIR/$2" voters="" i
  for i in "${!KAFKA_CLUSTER_PORTS[@]}"; do
    voters+="${voters:+,}$((i + 1))@127.0.0.1:$(kafka_cluster_controller_port "${KAFKA_CLUSTER_PORTS[$i]}")"
  done
  mkdir -p "$dir/data"
  cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=$id
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$(kafka_cluster_controller_port "$port")
advertised.listeners=PLAINTEXT://127.0.0.1:$port
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
default.replication.factor=3
min.insync.replicas=2
num.partitions=1
offsets.topic.replication.factor=3
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
transaction.state.log.num.partitions=1
auto.create.topics.enable=true
group.initial.rebalance.delay.ms=0
# A dead broker is fenced (and leaves every ISR, so acks=all goes on with the other two) after
# 3 s without heartbeats instead of 9 s; a dead controller leader is replaced within about 1 s.
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=3000
controller.quorum.election.timeout.ms=1000
controller.quorum.fetch.timeout.ms=2000
replica.lag.time.max.ms=5000
# A restarted broker takes its preferred leaderships back soon, so later kills find them spread.
leader.imbalance.check.interval.seconds=10
log.cleaner.dedupe.buffer.size=16777216
num.network.threads=2
num.io.threads=2
num.replica.fetchers=1
background.threads=4
EOF
  cat >"$dir/log4j.properties" <<'EOF'
log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaRaftServer=INFO
EOF
}

kafka_cluster_java_opts() { # port
  echo "-Djava.awt.headless=true -Dlog4j.configuration=file:$KAFKA_CLUSTER_DIR/$1/log4j.properties -Dkafka.logs.dir=$KAFKA_CLUSTER_DIR/$1"
}

kafka_cluster_node_up() { # port: its process lives
  local pidfile="$KAFKA_CLUSTER_DIR/$1/kafka.pid"
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

kafka_cluster_node_start() { # port: starts one node on its (formatted) data directory
  local port=$1 dir="$KAFKA_CLUSTER_DIR/$1" lib
  lib=$(bash "$ROOT/scripts/kafka.sh" jars)
  # shellcheck disable=SC2046 # the options are words without spaces
  setsid java -Xms384m -Xmx384m -XX:+UseSerialGC -XX:CICompilerCount=2 \
    $(kafka_cluster_java_opts "$port") -cp "$lib/*" kafka.Kafka "$dir/server.properties" \
    >"$dir/broker.log" 2>&1 </dev/null &
  echo $! >"$dir/kafka.pid"
}

kafka_cluster_started() { # port: its log says the server started, or it died
  grep -q "Kafka Server started" "$KAFKA_CLUSTER_DIR/$1/broker.log" 2>/dev/null
}

kafka_cluster_wait_started() { # port
  local port=$1 deadline=$((SECONDS + 120))
  until kafka_cluster_started "$port"; do
    kafka_cluster_node_up "$port" || { tail -n 30 "$KAFKA_CLUSTER_DIR/$port/broker.log" >&2; die "kafka cluster node $port exited (log: $KAFKA_CLUSTER_DIR/$port/broker.log)"; }
    [ $SECONDS -lt $deadline ] || die "kafka cluster node $port did not start within 120s"
    sleep 0.2
  done
}

kafka_cluster_start() {
  command -v java >/dev/null || die "java not found (Kafka needs Java 17)"
  if kafka_cluster_check serving; then log "kafka cluster already serves on ${KAFKA_CLUSTER_PORTS[*]}"; return 0; fi
  kafka_cluster_stop
  rm -rf "$KAFKA_CLUSTER_DIR"
  local lib cluster_id i port pids=()
  lib=$(bash "$ROOT/scripts/kafka.sh" jars)
  # One cluster id for the three (16 random bytes, base64url, as StorageTool random-uuid prints).
  cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
  for i in "${!KAFKA_CLUSTER_PORTS[@]}"; do
    port=${KAFKA_CLUSTER_PORTS[$i]}
    kafka_cluster_write_config $((i + 1)) "$port"
    # shellcheck disable=SC2046
    java -XX:+UseSerialGC -XX:TieredStopAtLevel=1 $(kafka_cluster_java_opts "$port") -cp "$lib/*" \
      kafka.tools.StorageTool format "--cluster-id=$cluster_id" \
      -c "$KAFKA_CLUSTER_DIR/$port/server.properties" >"$KAFKA_CLUSTER_DIR/$port/format.log" 2>&1 &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || die "formatting kafka cluster node ${KAFKA_CLUSTER_PORTS[$i]} failed: see $KAFKA_CLUSTER_DIR/${KAFKA_CLUSTER_PORTS[$i]}/format.log"
  done
  log "starting 3 Kafka nodes on ${KAFKA_CLUSTER_PORTS[*]} (controllers 9292–9294)"
  for port in "${KAFKA_CLUSTER_PORTS[@]}"; do kafka_cluster_node_start "$port"; done
  for port in "${KAFKA_CLUSTER_PORTS[@]}"; do kafka_cluster_wait_started "$port"; done
  wait_until 120 "the Kafka cluster (3 brokers)" kafka_cluster_check whole
  log "kafka cluster ready: KAFKA_CLUSTER_BROKERS=$(kafka_cluster_urls)"
}

kafka_cluster_stop() {
  local port
  # All at once: a clean KRaft shutdown waits for the quorum, which a lone last node lacks.
  for port in "${KAFKA_CLUSTER_PORTS[@]}"; do
    [ -f "$KAFKA_CLUSTER_DIR/$port/kafka.pid" ] && kill -TERM "$(cat "$KAFKA_CLUSTER_DIR/$port/kafka.pid")" 2>/dev/null || true
  done
  for port in "${KAFKA_CLUSTER_PORTS[@]}"; do
    stop_pidfile "$KAFKA_CLUSTER_DIR/$port/kafka.pid" "kafka cluster node $port"
  done
}

kafka_cluster_kill() { # port
  kafka_cluster_known_port "$1" >/dev/null
  kill_pidfile "$KAFKA_CLUSTER_DIR/$1/kafka.pid" "kafka cluster node $1"
}

kafka_cluster_restart() { # port
  kafka_cluster_known_port "$1" >/dev/null
  if ! kafka_cluster_node_up "$1"; then
    [ -f "$KAFKA_CLUSTER_DIR/$1/data/meta.properties" ] || die "kafka cluster node $1 has no data to restart from: start the cluster first"
    : >"$KAFKA_CLUSTER_DIR/$1/broker.log"
    kafka_cluster_node_start "$1"
    kafka_cluster_wait_started "$1"
  fi
  wait_until 120 "the Kafka cluster (node $1 back in every ISR)" kafka_cluster_check whole
  log "kafka cluster node $1 restarted; every partition fully replicated"
}
