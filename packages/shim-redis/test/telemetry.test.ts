import { fork } from 'node:child_process';
import { once } from 'node:events';
import { uniqueTopic } from '@proxystream/contract-tests';
import { afterAll, describe, expect, it } from 'vitest';
import { deleteKeys, REDIS_URL } from './env.js';

// The children run on the built packages (CI builds before testing), as an application would.
const fixtures = new URL('./telemetry/', import.meta.url);
const shimModule = new URL('../dist/index.js', import.meta.url).href;

interface SpanOut {
  where: 'producer' | 'consumer' | 'worker';
  name: string;
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  links: string[];
  attributes: Record<string, unknown>;
  status: number;
}

interface PointOut {
  where: string;
  name: string;
  attributes: Record<string, unknown>;
  value: number;
}

interface Dump {
  spans: SpanOut[];
  metrics: PointOut[];
}

const SPAN_KIND = { CLIENT: 2, PRODUCER: 3, CONSUMER: 4 };

/** Runs `script` with `args`; resolves with the JSON line it printed last, once it exited 0. */
async function child<T>(script: string, args: string[], onReady?: () => void): Promise<T> {
  const process = fork(new URL(script, fixtures), args, { stdio: 'pipe' });
  let out = '';
  let err = '';
  process.stdout!.on('data', (data: Buffer) => {
    out += data.toString();
    if (onReady !== undefined && out.includes('ready\n')) {
      const ready = onReady;
      onReady = undefined;
      ready();
    }
  });
  process.stderr!.on('data', (data: Buffer) => {
    err += data.toString();
  });
  const timer = setTimeout(
    () => console.error(`${script} still running: ${out.slice(0, 300)} ${err}`),
    15_000,
  );
  const [code] = (await once(process, 'exit')) as [number | null];
  clearTimeout(timer);
  if (code !== 0) throw new Error(`${script} exited with ${code}: ${err}`);
  const line = out
    .split('\n')
    .filter((text) => text.startsWith('{'))
    .at(-1);
  if (line === undefined) throw new Error(`${script} printed no result: ${out} ${err}`);
  return JSON.parse(line) as T;
}

function point(points: PointOut[], where: string, name: string, attributes = {}): number {
  return points
    .filter(
      (p) =>
        p.where === where &&
        p.name === name &&
        Object.entries(attributes).every(([key, value]) => p.attributes[key] === value),
    )
    .reduce((sum, p) => sum + p.value, 0);
}

const PREFIX = 'proxystream-telemetry:';
afterAll(() => deleteKeys(`${PREFIX}*`));

describe('OpenTelemetry across processes on Redis Streams', () => {
  it('one trace per object: send and put in the producer, receive in the consumer, resolve in a worker', async () => {
    const topic = uniqueTopic('telemetry');
    const group = `telemetry-group-${topic}`;
    const count = 5;
    const size = 4096;
    let started!: () => void;
    const ready = new Promise<void>((resolve) => {
      started = resolve;
    });
    const consumer = child<Dump & { sent: number; resolved: number[] }>(
      'consumer.mjs',
      [REDIS_URL, topic, group, PREFIX, shimModule],
      started,
    );
    await Promise.race([ready, consumer]);
    const producer = await child<Dump>('producer.mjs', [
      REDIS_URL,
      topic,
      String(count),
      String(size),
      PREFIX,
      shimModule,
    ]);
    const consumed = await consumer;
    expect(consumed.sent).toBe(count);
    expect(consumed.resolved).toEqual(new Array(count).fill(size));

    const spans = [...producer.spans, ...consumed.spans];
    const sends = spans.filter((span) => span.name === `send ${topic}`);
    expect(sends).toHaveLength(count);
    const byId = new Map(spans.map((span) => [span.spanId, span]));
    for (const send of sends) {
      expect(send.where).toBe('producer');
      expect(send.kind).toBe(SPAN_KIND.PRODUCER);
      expect(send.attributes).toMatchObject({
        'messaging.system': 'redis',
        'messaging.destination.name': topic,
        'messaging.operation.type': 'send',
        'messaging.message.body.size': size,
      });
      // Everything of this object is in the send's trace.
      const trace = spans.filter((span) => span.traceId === send.traceId);
      const names = trace.map((span) => `${span.where}:${span.name}`).sort();
      expect(names).toEqual(
        [
          `consumer:receive ${topic}`,
          `producer:put ${topic}`,
          `producer:send ${topic}`,
          `worker:get ${topic}`,
          `worker:process ${topic}`,
        ].sort(),
      );
      const put = trace.find((span) => span.name === `put ${topic}`)!;
      expect(put.kind).toBe(SPAN_KIND.CLIENT);
      expect(put.parentSpanId).toBe(send.spanId);
      expect(put.attributes).toMatchObject({
        'proxystream.store.kind': 'redis',
        'proxystream.store.bytes': size,
      });
      const receive = trace.find((span) => span.name === `receive ${topic}`)!;
      expect(receive.kind).toBe(SPAN_KIND.CONSUMER);
      expect(receive.parentSpanId).toBe(send.spanId);
      expect(receive.links).toEqual([send.spanId]);
      expect(receive.attributes).toMatchObject({
        'messaging.system': 'redis',
        'messaging.operation.type': 'receive',
        'messaging.consumer.group.name': group,
      });
      const process = trace.find((span) => span.name === `process ${topic}`)!;
      expect(process.kind).toBe(SPAN_KIND.CONSUMER);
      expect(process.parentSpanId).toBe(receive.spanId);
      expect(process.links).toEqual([send.spanId]);
      expect(process.attributes).toMatchObject({
        'messaging.system': 'redis',
        'messaging.operation.type': 'process',
        'messaging.operation.name': 'resolve',
        'messaging.message.body.size': size,
      });
      const get = trace.find((span) => span.name === `get ${topic}`)!;
      expect(get.parentSpanId).toBe(process.spanId);
      expect(byId.get(get.parentSpanId!)?.where).toBe('worker');
      expect(get.attributes).toMatchObject({ 'proxystream.store.bytes': size });
      for (const span of trace) expect(span.status).not.toBe(2);
    }

    const where = { 'messaging.destination.name': topic };
    expect(point(producer.metrics, 'producer', 'messaging.client.sent.messages', where)).toBe(
      count,
    );
    expect(
      point(producer.metrics, 'producer', 'proxystream.producer.sent.bytes', {
        'proxystream.body.location': 'stored',
      }),
    ).toBe(count * size);
    expect(point(consumed.metrics, 'consumer', 'messaging.client.consumed.messages', where)).toBe(
      count,
    );
    expect(
      point(consumed.metrics, 'worker', 'proxystream.consumer.received.bytes', {
        'proxystream.body.location': 'stored',
        ...where,
      }),
    ).toBe(count * size);
    // The group's lag, read from the broker: everything was read.
    const lag = consumed.metrics.filter(
      (p) =>
        p.name === 'proxystream.consumer.lag' &&
        p.attributes['messaging.consumer.group.name'] === group,
    );
    expect(lag).toHaveLength(1);
    expect(lag[0]!.value).toBe(0);
  }, 60_000);
});
