#!/usr/bin/env bash
# The main job: set-up, then the dispatcher demo, by default on the embedded in-process broker
# and a file store. Arguments go to the demo (try --help): --broker redis://…|nats://…|kafka://…|
# zmq://… and --store choose others, --role producer|dispatcher splits it across two terminals.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# Node.js 22 or later: an older system node gives way to the pinned 22 from scripts/node.sh.
PATH="$(bash scripts/node.sh path)"
bash scripts/setup.sh
exec node examples/demo.mjs "$@"
