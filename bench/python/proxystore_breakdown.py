"""ProxyStore's large-object path, one phase at a time, for proxystream's benchmark (breakdown).

Run by bench/src/breakdown.ts inside .cache/bench-venv; prints one JSON line. Per iteration the
phases a stream object goes through: put (Store.put on a FileConnector: serialize, write the
file, then an empty .ready marker), event (one PUBLISH of an event-sized message to Redis), open
(Store.from_config of the producer's config, as a consumer does on its first event), read
(Store.get: check the marker, read the file, deserialize) and evict (remove file and marker).

Each phase is timed with time.monotonic_ns and resource.getrusage (CPU time and page faults of
the process). With --count-copies, tracemalloc reports the peak of new Python heap during each
phase (its allocations; bytes are copied into new buffers), and with --markers a write of
"@@bd <phase> <iteration> b|e" to /dev/null brackets every phase so that an strace of this
process can be cut into phases.

    python proxystore_breakdown.py --dir DIR --size BYTES --iterations N [--warmup N]
        [--redis HOST:PORT] [--markers] [--count-copies]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
import tracemalloc
import uuid

import redis
from proxystore.connectors.file import FileConnector
from proxystore.store import Store

PHASES = ('put', 'event', 'open', 'read', 'evict')


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--dir', required=True)
    parser.add_argument('--size', type=int, required=True)
    parser.add_argument('--iterations', type=int, required=True)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--redis', default='127.0.0.1:6379')
    parser.add_argument('--markers', action='store_true')
    parser.add_argument('--count-copies', action='store_true')
    args = parser.parse_args()
    host, port = args.redis.split(':')

    marker_fd = os.open('/dev/null', os.O_WRONLY) if args.markers else -1
    client = redis.Redis(host=host, port=int(port))
    client.ping()
    channel = f'bench-breakdown-{uuid.uuid4().hex[:8]}'
    store = Store(f'breakdown-{channel}', FileConnector(args.dir), register=False)
    data = os.urandom(args.size)
    if args.count_copies:
        tracemalloc.start()

    samples: dict[str, list[dict[str, float]]] = {phase: [] for phase in PHASES}
    state: dict[str, object] = {}

    def put() -> None:
        state['key'] = store.put(data)

    def event() -> None:
        # An event of the size ProxyStore's stream sends for a proxied object: topic, key, config.
        message = json.dumps({'topic': channel, 'key': repr(state['key']), 'store': store.name})
        client.publish(channel, message.encode())

    def open_store() -> None:
        state['consumer'] = Store.from_config(store.config())

    def read() -> None:
        obj = state['consumer'].get(state['key'])  # type: ignore[attr-defined]
        if obj is None or len(obj) != args.size:
            raise RuntimeError('read returned the wrong object')
        state['obj'] = obj

    def evict() -> None:
        state['consumer'].evict(state['key'])  # type: ignore[attr-defined]

    steps = {'put': put, 'event': event, 'open': open_store, 'read': read, 'evict': evict}
    for iteration in range(args.warmup + args.iterations):
        timed = iteration >= args.warmup
        for phase in PHASES:
            if args.count_copies:
                tracemalloc.reset_peak()
                heap0 = tracemalloc.get_traced_memory()[0]
            ru0 = resource.getrusage(resource.RUSAGE_SELF)
            if marker_fd >= 0:
                os.write(marker_fd, f'@@bd {phase} {iteration} b\n'.encode())
            t0 = time.monotonic_ns()
            steps[phase]()
            t1 = time.monotonic_ns()
            if marker_fd >= 0:
                os.write(marker_fd, f'@@bd {phase} {iteration} e\n'.encode())
            ru1 = resource.getrusage(resource.RUSAGE_SELF)
            sample = {
                'wallMs': (t1 - t0) / 1e6,
                'userMs': (ru1.ru_utime - ru0.ru_utime) * 1e3,
                'sysMs': (ru1.ru_stime - ru0.ru_stime) * 1e3,
                'minorFaults': ru1.ru_minflt - ru0.ru_minflt,
                'majorFaults': ru1.ru_majflt - ru0.ru_majflt,
                'pool': 0,
            }
            if args.count_copies:
                sample['heapPeak'] = tracemalloc.get_traced_memory()[1] - heap0
            if timed:
                samples[phase].append(sample)
        state.pop('obj', None)
    client.close()
    print(json.dumps({'phases': samples}))


if __name__ == '__main__':
    main()
