"""ProxyStore's own StreamProducer/StreamConsumer, timed for proxystream's benchmark (section 6).

Run by bench/src/anchor.ts inside .cache/bench-venv; prints one JSON line. The consumer runs in a
child process (Python's GIL would otherwise serialise producer and consumer); the time runs from
the first send to the last object received, on CLOCK_MONOTONIC, which both processes share.

    python proxystore_anchor.py --mode inline|file --size BYTES --count N --redis HOST:PORT [--dir DIR]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import time
import uuid

from proxystore.connectors.file import FileConnector
from proxystore.store import Store
from proxystore.stream import StreamConsumer, StreamProducer
from proxystore.stream.shims.redis import RedisPublisher, RedisSubscriber


def consume(host: str, port: int, topic: str, ready, result) -> None:
    consumer = StreamConsumer(RedisSubscriber(host, port, topic))
    ready.set()
    received = 0
    nbytes = 0
    for obj in consumer.iter_objects():
        received += 1
        nbytes += len(obj)
    result.put((time.monotonic(), received, nbytes))
    consumer.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--mode', choices=['inline', 'file'], required=True)
    parser.add_argument('--size', type=int, required=True)
    parser.add_argument('--count', type=int, required=True)
    parser.add_argument('--redis', default='127.0.0.1:6379')
    parser.add_argument('--dir', default=None)
    args = parser.parse_args()
    host, port = args.redis.split(':')
    topic = f'bench-anchor-{uuid.uuid4().hex[:8]}'

    ctx = multiprocessing.get_context('fork')
    ready = ctx.Event()
    result = ctx.Queue()
    child = ctx.Process(target=consume, args=(host, int(port), topic, ready, result))
    child.start()
    ready.wait(30)
    time.sleep(0.2)  # the SUBSCRIBE reaches Redis after ready is set

    store = None
    if args.mode == 'file':
        store = Store(f'anchor-{topic}', FileConnector(args.dir), register=True)
    producer = StreamProducer(
        RedisPublisher(host, int(port)),
        stores={topic: store} if store is not None else None,
    )
    data = os.urandom(args.size)
    start = time.monotonic()
    for _ in range(args.count):
        producer.send(topic, data, evict=True)
    producer.close_topics(topic)
    end, received, nbytes = result.get(timeout=600)
    child.join(30)
    producer.close(stores=store is not None)
    print(json.dumps({'seconds': end - start, 'received': received, 'bytes': nbytes}))


if __name__ == '__main__':
    main()
