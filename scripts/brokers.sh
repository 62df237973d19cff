#!/usr/bin/env bash
# Start, stop and restart the brokers the tests need, on 127.0.0.1 only.
#
#   bash scripts/brokers.sh start [redis] [nats] [kafka]    # default: all three
#   bash scripts/brokers.sh stop [redis] [nats] [kafka]
#   bash scripts/brokers.sh restart redis|nats|kafka         # data survives (used by fault tests)
#   bash scripts/brokers.sh start redis_auth nats_auth       # servers that demand credentials
#   REDIS_PORT=6391 bash scripts/brokers.sh start redis       # a second, private instance
#   bash scripts/brokers.sh list                             # every broker the tests need
#
# A new broker is one entry here: its name in ALL_BROKERS and its <name>_start, <name>_stop and
# <name>_running functions (and <name>_restart when a restart must keep data in its own way).
# scripts/test.sh starts every broker that `list` prints.
#
# A broker whose URL variable (REDIS_URL, NATS_URL, KAFKA_BROKERS) is already set is left alone:
# `start` uses it as given; `stop` and `restart` refuse (exit 1), since this script did not start
# that broker and cannot stop it. To restart a private instance, set its port, not its URL.
# Each port has its own data directory and pid file (.cache/brokers/redis for 6379,
# .cache/brokers/redis-<port> otherwise; the same for nats), so a second instance never touches
# the default one's files. redis-server and nats-server come from Debian's packages and are
# installed when missing; Kafka comes from Maven Central through scripts/kafka.sh.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$ROOT/.cache/brokers"
REDIS_PORT="${REDIS_PORT:-6379}"
NATS_PORT="${NATS_PORT:-4222}"
NATS_MONITOR_PORT="${NATS_MONITOR_PORT:-8222}"
mkdir -p "$CACHE"
# The default ports keep the directories they always had (a running instance finds its pid file).
REDIS_DIR="$CACHE/redis"; [ "$REDIS_PORT" = 6379 ] || REDIS_DIR="$CACHE/redis-$REDIS_PORT"
NATS_DIR="$CACHE/nats"; [ "$NATS_PORT" = 4222 ] || NATS_DIR="$CACHE/nats-$NATS_PORT"

LOG_PREFIX=brokers
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

# --- redis ---------------------------------------------------------------------------------
redis_ping() { [ "$(timeout 5 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }

redis_start() { # keep_data
  [ -n "${REDIS_URL:-}" ] && { log "REDIS_URL is set; using $REDIS_URL"; return 0; }
  command -v redis-server >/dev/null || apt_install redis-server
  if redis_ping; then log "redis already answers on $REDIS_PORT"; return 0; fi
  local dir="$REDIS_DIR"
  [ "${1:-}" = keep ] || rm -rf "$dir"
  mkdir -p "$dir"
  # Append-only file so that a restart keeps the data of persistent shims (lists, streams).
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes --dir "$dir" \
    --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --save '' \
    --appendonly yes --appendfsync everysec >/dev/null
  wait_until 60 redis redis_ping
  log "redis ready: REDIS_URL=redis://127.0.0.1:$REDIS_PORT"
}

redis_stop() {
  [ -n "${REDIS_URL:-}" ] && die "REDIS_URL is set ($REDIS_URL): this script will not stop or restart a server it did not start; do that yourself, or unset REDIS_URL and set REDIS_PORT to address one it started"
  local pidfile="$REDIS_DIR/redis.pid"
  # SHUTDOWN rewrites nothing with --save '' but flushes the append-only file. Sent even when a
  # ping just failed: a server too busy to answer one ping must still stop.
  timeout 10 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown >/dev/null 2>&1 || true
  if [ -f "$pidfile" ]; then
    # Stopped means the process is gone, not that one ping failed (SIGTERM also flushes).
    stop_pidfile "$pidfile" redis
  else
    wait_until 10 "redis shutdown" bash -c "! redis-cli -h 127.0.0.1 -p $REDIS_PORT ping"
    log "redis stopped"
  fi
}

redis_restart() {
  [ -n "${REDIS_URL:-}" ] && redis_stop # dies with the reason
  # A server on this port that keeps its data elsewhere was not started here: restarting it from
  # this script's directory would bring up another data set, so refuse.
  local dir
  dir=$(timeout 10 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" config get dir 2>/dev/null | sed -n 2p) ||
    true
  [ -z "$dir" ] || [ "$dir" = "$REDIS_DIR" ] ||
    die "the redis on port $REDIS_PORT keeps its data in $dir, not in $REDIS_DIR: it was not started by this script; restart it yourself"
  redis_stop
  redis_start keep
}

# --- nats ----------------------------------------------------------------------------------
nats_ready() { curl -fsS "http://127.0.0.1:$NATS_MONITOR_PORT/healthz?js-enabled-only=true" >/dev/null 2>&1; }

nats_start() { # keep_data
  [ -n "${NATS_URL:-}" ] && { log "NATS_URL is set; using $NATS_URL"; return 0; }
  command -v nats-server >/dev/null || apt_install nats-server
  if nats_ready; then log "nats already answers on $NATS_PORT"; return 0; fi
  local dir="$NATS_DIR"
  [ "${1:-}" = keep ] || rm -rf "$dir"
  mkdir -p "$dir"
  setsid nats-server -js -a 127.0.0.1 -p "$NATS_PORT" -m "$NATS_MONITOR_PORT" \
    -sd "$dir/jetstream" -P "$dir/nats.pid" -l "$dir/nats.log" \
    </dev/null >/dev/null 2>&1 &
  wait_until 30 nats nats_ready
  log "nats ready: NATS_URL=nats://127.0.0.1:$NATS_PORT"
}

nats_stop() {
  [ -n "${NATS_URL:-}" ] && die "NATS_URL is set ($NATS_URL): this script will not stop or restart a server it did not start; do that yourself, or unset NATS_URL and set NATS_PORT to address one it started"
  local pidfile="$NATS_DIR/nats.pid"
  # A lost pid file must not turn a restart into a no-op: find the server by its port.
  if [ ! -f "$pidfile" ]; then
    mkdir -p "$(dirname "$pidfile")"
    pgrep -f -- "nats-server -js -a 127.0.0.1 -p $NATS_PORT " >"$pidfile" 2>/dev/null || rm -f "$pidfile"
  fi
  stop_pidfile "$pidfile" nats
}

# --- brokers that demand credentials (security tests) -----------------------------------------
# Redis with a password for the default user and an ACL user; NATS once with a token and once with
# a user and password. The secrets are fixed test values, known to the tests through the same
# variables; they protect nothing but loopback test servers.
REDIS_AUTH_PORT="${REDIS_AUTH_PORT:-6380}"
NATS_TOKEN_PORT="${NATS_TOKEN_PORT:-4223}"
NATS_USER_PORT="${NATS_USER_PORT:-4224}"
TEST_SECRET="${PROXYSTREAM_TEST_SECRET:-s3cret-for-tests}"

redis_auth_ping() {
  [ "$(REDISCLI_AUTH="$TEST_SECRET" redis-cli -h 127.0.0.1 -p "$REDIS_AUTH_PORT" ping 2>/dev/null)" = PONG ]
}

redis_auth_start() {
  command -v redis-server >/dev/null || apt_install redis-server
  if redis_auth_ping; then return 0; fi
  local dir="$CACHE/redis-auth"
  rm -rf "$dir" && mkdir -p "$dir"
  redis-server --bind 127.0.0.1 --port "$REDIS_AUTH_PORT" --daemonize yes --dir "$dir" \
    --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --save '' --appendonly no \
    --requirepass "$TEST_SECRET" >/dev/null
  wait_until 30 "redis (auth)" redis_auth_ping
  REDISCLI_AUTH="$TEST_SECRET" redis-cli -h 127.0.0.1 -p "$REDIS_AUTH_PORT" \
    ACL SETUSER streamer on ">$TEST_SECRET" '~*' '&*' '+@all' >/dev/null
  log "redis with credentials ready on $REDIS_AUTH_PORT"
}

redis_auth_stop() {
  redis_auth_ping && REDISCLI_AUTH="$TEST_SECRET" redis-cli -h 127.0.0.1 -p "$REDIS_AUTH_PORT" shutdown >/dev/null 2>&1 || true
  rm -f "$CACHE/redis-auth/redis.pid"
}

nats_auth_port_ready() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

nats_auth_start() {
  command -v nats-server >/dev/null || apt_install nats-server
  local dir="$CACHE/nats-auth"
  mkdir -p "$dir"
  if ! nats_auth_port_ready "$NATS_TOKEN_PORT"; then
    setsid nats-server -a 127.0.0.1 -p "$NATS_TOKEN_PORT" --auth "$TEST_SECRET" \
      -P "$dir/token.pid" -l "$dir/token.log" </dev/null >/dev/null 2>&1 &
    wait_until 30 "nats (token)" nats_auth_port_ready "$NATS_TOKEN_PORT"
  fi
  if ! nats_auth_port_ready "$NATS_USER_PORT"; then
    setsid nats-server -a 127.0.0.1 -p "$NATS_USER_PORT" --user streamer --pass "$TEST_SECRET" \
      -P "$dir/user.pid" -l "$dir/user.log" </dev/null >/dev/null 2>&1 &
    wait_until 30 "nats (user)" nats_auth_port_ready "$NATS_USER_PORT"
  fi
  log "nats with credentials ready on $NATS_TOKEN_PORT (token) and $NATS_USER_PORT (user/password)"
}

nats_auth_stop() {
  stop_pidfile "$CACHE/nats-auth/token.pid" "nats (token)"
  stop_pidfile "$CACHE/nats-auth/user.pid" "nats (user)"
}

# --- kafka ---------------------------------------------------------------------------------
kafka_start() {
  [ -n "${KAFKA_BROKERS:-}" ] && { log "KAFKA_BROKERS is set; using $KAFKA_BROKERS"; return 0; }
  bash "$ROOT/scripts/kafka.sh" start >/dev/null
}
kafka_restart() {
  [ -n "${KAFKA_BROKERS:-}" ] && die "KAFKA_BROKERS is set: restart that broker yourself"
  bash "$ROOT/scripts/kafka.sh" restart >/dev/null
}
kafka_stop() {
  [ -n "${KAFKA_BROKERS:-}" ] && die "KAFKA_BROKERS is set ($KAFKA_BROKERS): this script will not stop a broker it did not start; stop it yourself"
  bash "$ROOT/scripts/kafka.sh" stop
}

# Every broker of the test run, in start order.
ALL_BROKERS=(redis nats kafka redis_auth nats_auth)

command=${1:-}
shift || true
brokers=("$@")
[ ${#brokers[@]} -gt 0 ] || brokers=(redis nats kafka)

# Whether a broker answers now (exit status only): lets callers stop only what they started.
redis_running() { redis_ping; }
nats_running() { nats_ready; }
kafka_running() { bash "$ROOT/scripts/kafka.sh" status >/dev/null 2>&1; }
redis_auth_running() { redis_auth_ping; }
nats_auth_running() { nats_auth_port_ready "$NATS_TOKEN_PORT" && nats_auth_port_ready "$NATS_USER_PORT"; }

case "$command" in
  list) echo "${ALL_BROKERS[@]}" ;;
  running)
    for b in "${brokers[@]}"; do "${b}_running" || exit 1; done
    ;;
  start) for b in "${brokers[@]}"; do "${b}_start"; done ;;
  stop) for b in "${brokers[@]}"; do "${b}_stop"; done ;;
  restart)
    for b in "${brokers[@]}"; do
      if declare -F "${b}_restart" >/dev/null; then "${b}_restart"; continue; fi
      "${b}_stop"
      "${b}_start" keep
    done
    ;;
  *) die "usage: brokers.sh list | start|stop|restart|running [${ALL_BROKERS[*]}]" ;;
esac
