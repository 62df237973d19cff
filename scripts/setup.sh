#!/usr/bin/env bash
# Installs the pinned pnpm and the workspace's dependencies (frozen lockfile), then builds every
# package. Shared by the demo and the test command so that each works on a fresh machine.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# Node.js 22 or later: an older system node gives way to the pinned 22 from scripts/node.sh.
PATH="$(bash scripts/node.sh path)"

pinned=$(node -p "require('./package.json').packageManager.split('@')[1]")
if [ "$(pnpm --version 2>/dev/null || true)" != "$pinned" ]; then
  echo "[setup] installing pnpm $pinned" >&2
  if [[ "$(command -v node)" == "$ROOT/.cache/node/"* ]]; then
    # npm's global prefix would be that node's own directory (gone with the next pinned version):
    # pnpm gets one of its own, which scripts/node.sh has put on PATH already.
    npm install --global --silent --prefix "$ROOT/.cache/pnpm/$pinned" "pnpm@$pinned" >&2
  else
    npm install --global --silent "pnpm@$pinned" >&2
  fi
fi
pnpm install --frozen-lockfile --reporter=silent >&2
pnpm run --silent build >&2
