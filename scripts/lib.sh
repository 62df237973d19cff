# Shell helpers of scripts/brokers.sh and scripts/clusters.sh (sourced, not run). The sourcing
# script sets LOG_PREFIX first ("brokers", "clusters").

log() { echo "[${LOG_PREFIX:-scripts}] $*" >&2; }
die() { echo "[${LOG_PREFIX:-scripts}] ERROR: $*" >&2; exit 1; }

apt_install() {
  log "installing $* from Debian's packages"
  if [ "$(id -u)" -ne 0 ]; then die "need root to apt-get install $*"; fi
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

wait_until() { # seconds, description, command...
  local seconds=$1 what=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || die "$what did not become ready within ${seconds}s"
    sleep 0.1
  done
}

# SIGTERM a pid file's process, SIGKILL after 10 s; removes the pid file.
stop_pidfile() { # pidfile, name
  local pidfile=$1 name=$2 pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
  log "$name stopped"
}
