#!/usr/bin/env bash
# Installs the pinned pnpm and the workspace's dependencies (frozen lockfile), then builds every
# package. Shared by the demo and the test command so that each works on a fresh machine.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

pinned=$(node -p "require('./package.json').packageManager.split('@')[1]")
if [ "$(pnpm --version 2>/dev/null || true)" != "$pinned" ]; then
  echo "[setup] installing pnpm $pinned" >&2
  npm install --global --silent "pnpm@$pinned" >&2
fi
pnpm install --frozen-lockfile --reporter=silent >&2
pnpm run --silent build >&2
