import { context, metrics, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  AggregationTemporality,
  type DataPoint,
  MeterProvider,
  MetricReader,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { type EventBatch, type Publisher, SendRefusedError } from '@proxystream/protocols';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultSerializer } from '../src/default-serializer.js';
import { InProcessBroker } from '../src/in-process-broker.js';
import { MemoryStore, MemoryStoreFactory } from '../src/memory-store.js';
import { ProxyReference } from '../src/proxy-reference.js';
import { StreamConsumer } from '../src/stream-consumer.js';
import { StreamProducer } from '../src/stream-producer.js';
import { encodeBatch } from '../src/wire-codec.js';
import { topicName, within } from './helpers.js';

/** A metric reader the test collects from by hand. */
class ManualReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected async onShutdown(): Promise<void> {}
  protected async onForceFlush(): Promise<void> {}
}

interface Sdk {
  spans: InMemorySpanExporter;
  reader: ManualReader;
  tracerProvider: BasicTracerProvider;
  meterProvider: MeterProvider;
}

function sdk(): Sdk {
  const spans = new InMemorySpanExporter();
  const reader = new ManualReader();
  return {
    spans,
    reader,
    tracerProvider: new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }),
    meterProvider: new MeterProvider({ readers: [reader] }),
  };
}

/** The sum of every data point of `name` whose attributes include `where`. */
async function total(
  reader: ManualReader,
  name: string,
  where: Record<string, string> = {},
): Promise<number> {
  const { resourceMetrics } = await reader.collect();
  return sumOf(resourceMetrics, name, where);
}

function sumOf(metricsOut: ResourceMetrics, name: string, where: Record<string, string>): number {
  let sum = 0;
  for (const scope of metricsOut.scopeMetrics) {
    for (const metric of scope.metrics) {
      if (metric.descriptor.name !== name) continue;
      for (const point of metric.dataPoints as DataPoint<number>[]) {
        if (Object.entries(where).every(([key, value]) => point.attributes[key] === value)) {
          sum += point.value;
        }
      }
    }
  }
  return sum;
}

function named(spans: readonly ReadableSpan[], name: string): ReadableSpan[] {
  return spans.filter((span) => span.name === name);
}

function parentId(span: ReadableSpan): string | undefined {
  return span.parentSpanContext?.spanId;
}

const providers: Sdk[] = [];
afterEach(async () => {
  for (const made of providers.splice(0)) {
    await made.tracerProvider.shutdown();
    await made.meterProvider.shutdown();
  }
  trace.disable();
  metrics.disable();
  context.disable();
});

function tracked(): Sdk {
  const made = sdk();
  providers.push(made);
  return made;
}

describe('tracing', () => {
  it('follows a stored object from send through receive to a resolve of its JSON reference: one trace', async () => {
    const { spans, tracerProvider, meterProvider } = tracked();
    const telemetry = { tracerProvider, meterProvider };
    const broker = new InProcessBroker();
    const topic = topicName('traced');
    const store = await MemoryStore.create({ name: `traced-${topic}` });
    const subscriber = await broker.subscriber(topic);
    const producer = new StreamProducer<Uint8Array>(broker.publisher(), {
      defaultStore: store,
      telemetry,
    });
    const consumer = new StreamConsumer<Uint8Array>(subscriber, {
      stores: [new MemoryStoreFactory()],
      telemetry,
    });
    await producer.send(topic, new Uint8Array(3000).fill(7), { metadata: { n: 1 } });
    await producer.closeTopics(topic);
    const item = await within(consumer.next(), 5_000, 'the reference');
    expect(item.done).toBe(false);
    const reference = item.value!;
    expect(reference.isReference).toBe(true);
    // Handed on as JSON, as to a worker: the trace goes with it.
    const json = JSON.parse(JSON.stringify(reference));
    expect(json.trace.topic).toBe(topic);
    expect(json.trace.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    const revived = ProxyReference.fromJSON<Uint8Array>(json, {
      stores: [new MemoryStoreFactory()],
      telemetry,
    });
    expect((await revived.resolve()).byteLength).toBe(3000);
    await consumer.close();
    await producer.close();
    await broker.close();

    const finished = spans.getFinishedSpans();
    const [send] = named(finished, `send ${topic}`);
    const [put] = named(finished, `put ${topic}`);
    const [receive] = named(finished, `receive ${topic}`);
    const [process] = named(finished, `process ${topic}`);
    const [get] = named(finished, `get ${topic}`);
    for (const span of [send, put, receive, process, get]) expect(span).toBeDefined();
    const traceId = send!.spanContext().traceId;
    for (const span of [put, receive, process, get]) {
      expect(span!.spanContext().traceId).toBe(traceId);
    }
    expect(send!.kind).toBe(SpanKind.PRODUCER);
    expect(parentId(send!)).toBeUndefined();
    expect(send!.attributes).toMatchObject({
      'messaging.system': 'proxystream.in-process',
      'messaging.destination.name': topic,
      'messaging.operation.type': 'send',
      'messaging.batch.message_count': 1,
      'messaging.message.body.size': 3000,
    });
    expect(put!.kind).toBe(SpanKind.CLIENT);
    expect(parentId(put!)).toBe(send!.spanContext().spanId);
    expect(put!.attributes).toMatchObject({ 'proxystream.store.bytes': 3000 });
    expect(receive!.kind).toBe(SpanKind.CONSUMER);
    expect(parentId(receive!)).toBe(send!.spanContext().spanId);
    expect(receive!.links.map((link) => link.context.spanId)).toEqual([send!.spanContext().spanId]);
    expect(receive!.attributes).toMatchObject({
      'messaging.operation.type': 'receive',
      'messaging.destination.name': topic,
    });
    expect(process!.kind).toBe(SpanKind.CONSUMER);
    expect(parentId(process!)).toBe(receive!.spanContext().spanId);
    expect(process!.links.map((link) => link.context.spanId)).toEqual([send!.spanContext().spanId]);
    expect(process!.attributes).toMatchObject({
      'messaging.operation.type': 'process',
      'messaging.operation.name': 'resolve',
      'messaging.message.body.size': 3000,
    });
    expect(parentId(get!)).toBe(process!.spanContext().spanId);
    expect(get!.attributes).toMatchObject({
      'proxystream.store.operation': 'get',
      'proxystream.store.bytes': 3000,
    });
  });

  it('makes the send span a child of the caller’s active span, and one receive span per inline object', async () => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    const { spans, tracerProvider } = tracked();
    const broker = new InProcessBroker();
    const topic = topicName('traced-inline');
    const subscriber = await broker.subscriber(topic);
    const producer = new StreamProducer<string>(broker.publisher(), {
      telemetry: { tracerProvider },
    });
    const consumer = new StreamConsumer<string>(subscriber, { telemetry: { tracerProvider } });
    const tracer = tracerProvider.getTracer('test');
    const outer = tracer.startSpan('handle request');
    await context.with(trace.setSpan(context.active(), outer), async () => {
      await Promise.all([producer.send(topic, 'a'), producer.send(topic, 'b')]);
    });
    outer.end();
    await producer.closeTopics(topic);
    const received: string[] = [];
    for await (const item of consumer) received.push(await item.resolve());
    expect(received).toEqual(['a', 'b']);
    await producer.close();
    await broker.close();
    const finished = spans.getFinishedSpans();
    const sends = named(finished, `send ${topic}`);
    expect(sends).toHaveLength(2);
    for (const send of sends) {
      expect(parentId(send)).toBe(outer.spanContext().spanId);
      expect(send.spanContext().traceId).toBe(outer.spanContext().traceId);
    }
    const receives = named(finished, `receive ${topic}`);
    expect(receives.map(parentId).sort()).toEqual(sends.map((s) => s.spanContext().spanId).sort());
  });

  it('ends the send spans of a refused batch with an error', async () => {
    const { spans, reader, tracerProvider, meterProvider } = tracked();
    const topic = topicName('traced-refused');
    const refusing: Publisher = {
      send: () => Promise.reject(new Error('broker says no')),
      close: async () => undefined,
      [Symbol.asyncDispose]: async () => undefined,
    };
    const producer = new StreamProducer<string>(refusing, {
      telemetry: { tracerProvider, meterProvider },
    });
    await expect(producer.send(topic, 'x')).rejects.toBeInstanceOf(SendRefusedError);
    await producer.close({ publisher: false }).catch(() => undefined);
    const [send] = named(spans.getFinishedSpans(), `send ${topic}`);
    expect(send?.status.code).toBe(SpanStatusCode.ERROR);
    expect(send?.status.message).toBe('broker says no');
    expect(await total(reader, 'proxystream.producer.refused.messages')).toBe(1);
    expect(await total(reader, 'messaging.client.sent.messages')).toBe(0);
  });

  it('writes version-1 envelopes without trace contexts when no SDK is registered', async () => {
    const broker = new InProcessBroker();
    const topic = topicName('untraced');
    const raw = await broker.subscriber(topic);
    const producer = new StreamProducer<string>(broker.publisher());
    await producer.send(topic, 'plain');
    const iterator = raw[Symbol.asyncIterator]();
    const message = (await within(iterator.next(), 5_000, 'the envelope')).value as Uint8Array;
    expect(message[2]).toBe(1);
    await producer.close();
    await broker.close();
  });

  it('uses the global providers registered before the producer and consumer were made; `false` turns them off', async () => {
    const { spans, tracerProvider, meterProvider, reader } = tracked();
    trace.setGlobalTracerProvider(tracerProvider);
    metrics.setGlobalMeterProvider(meterProvider);
    const broker = new InProcessBroker();
    const topic = topicName('global');
    const off = topicName('off');
    const producer = new StreamProducer<string>(broker.publisher());
    const silent = new StreamProducer<string>(broker.publisher(), { telemetry: false });
    await producer.send(topic, 'seen');
    await silent.send(off, 'unseen');
    await producer.close();
    await silent.close();
    await broker.close();
    const names = spans.getFinishedSpans().map((span) => span.name);
    expect(names).toContain(`send ${topic}`);
    expect(names).not.toContain(`send ${off}`);
    expect(
      await total(reader, 'messaging.client.sent.messages', {
        'messaging.destination.name': topic,
      }),
    ).toBe(1);
    expect(
      await total(reader, 'messaging.client.sent.messages', { 'messaging.destination.name': off }),
    ).toBe(0);
  });
});

describe('a reference’s trace from the wire', () => {
  it('drops a malformed trace (the reference still resolves) and keeps a well-formed one', async () => {
    const { spans, tracerProvider } = tracked();
    const store = await MemoryStore.create();
    const key = await store.put(defaultSerializer.serialize('x'));
    const base = {
      type: 'proxystream.reference',
      version: 1,
      key,
      store: store.config(),
      evict: false,
    };
    const malformed = [
      { topic: 7 },
      { topic: 't', traceparent: '00-zz-1-01' },
      { topic: 't', traceparent: `00-${'0'.repeat(32)}-${'1'.repeat(16)}-01` },
      { topic: 't', traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`, tracestate: 'a=\n' },
      'not an object',
    ];
    for (const trace of malformed) {
      const reference = ProxyReference.fromJSON<string>(
        { ...base, trace },
        { stores: [new MemoryStoreFactory()], telemetry: { tracerProvider } },
      );
      expect(await reference.resolve()).toBe('x');
      if (typeof trace === 'object' && typeof trace.topic === 'string') {
        expect(reference.trace?.topic).toBe('t');
        expect(reference.trace?.parent?.traceState).toBeUndefined();
        if (trace.tracestate === undefined) expect(reference.trace?.parent).toBeUndefined();
      } else {
        expect(reference.trace).toBeUndefined();
      }
    }
    const traceId = 'a'.repeat(32);
    const good = ProxyReference.fromJSON<string>(
      {
        ...base,
        trace: {
          topic: 'good',
          traceparent: `00-${traceId}-${'b'.repeat(16)}-01`,
          tracestate: 'k=v',
          origin: `00-${traceId}-${'c'.repeat(16)}-01`,
        },
      },
      { stores: [new MemoryStoreFactory()], telemetry: { tracerProvider } },
    );
    expect(await good.resolve()).toBe('x');
    const [process] = named(spans.getFinishedSpans(), 'process good');
    expect(process?.spanContext().traceId).toBe(traceId);
    expect(parentId(process!)).toBe('b'.repeat(16));
    expect(process?.links.map((link) => link.context.spanId)).toEqual(['c'.repeat(16)]);
    expect(good.toJSON().trace).toEqual({
      topic: 'good',
      traceparent: `00-${traceId}-${'b'.repeat(16)}-01`,
      tracestate: 'k=v',
      origin: `00-${traceId}-${'c'.repeat(16)}-01`,
    });
  });
});

describe('metrics', () => {
  it('counts objects, inline and stored bytes, batches, gaps, duplicates and malformed messages', async () => {
    const { reader, meterProvider } = tracked();
    const telemetry = { meterProvider };
    const broker = new InProcessBroker();
    const topic = topicName('counted');
    const store = await MemoryStore.create({ name: `counted-${topic}` });
    const subscriber = await broker.subscriber(topic);
    const producer = new StreamProducer<Uint8Array>(broker.publisher(), {
      defaultStore: store,
      inlineBelow: 1000,
      batchSize: 3,
      telemetry,
    });
    const errors: string[] = [];
    const consumer = new StreamConsumer<Uint8Array>(subscriber, {
      stores: [new MemoryStoreFactory()],
      onGap: (error) => errors.push(error.message),
      onDecodeError: 'ignore',
      telemetry,
    });
    // Two inline objects (100 B each) and one stored (2000 B): one batch.
    await producer.send(topic, new Uint8Array(100));
    await producer.send(topic, new Uint8Array(100));
    await producer.send(topic, new Uint8Array(2000));
    const raw = broker.publisher();
    await raw.send(topic, Uint8Array.of(1, 2, 3));
    const forged = (sequence: number): EventBatch => ({
      topic,
      producerId: 'forger',
      sequence,
      events: [],
    });
    await raw.send(topic, encodeBatch(forged(0)));
    await raw.send(topic, encodeBatch(forged(3)));
    await raw.send(topic, encodeBatch(forged(3)));
    await raw.send(topic, encodeBatch({ ...forged(4), events: [{ type: 'end-of-stream' }] }));
    await producer.closeTopics(topic);
    let resolvedBytes = 0;
    for await (const item of consumer) resolvedBytes += (await item.resolve()).byteLength;
    expect(resolvedBytes).toBe(2200);
    await producer.close();
    await broker.close();

    const sent = { 'messaging.destination.name': topic };
    expect(await total(reader, 'messaging.client.sent.messages', sent)).toBe(3);
    expect(
      await total(reader, 'proxystream.producer.sent.bytes', {
        'proxystream.body.location': 'inline',
      }),
    ).toBe(200);
    expect(
      await total(reader, 'proxystream.producer.sent.bytes', {
        'proxystream.body.location': 'stored',
      }),
    ).toBe(2000);
    // The batch of three and the end-of-stream batch.
    expect(await total(reader, 'proxystream.producer.sent.batches', sent)).toBe(2);
    expect(await total(reader, 'messaging.client.consumed.messages', sent)).toBe(3);
    expect(
      await total(reader, 'proxystream.consumer.received.bytes', {
        'proxystream.body.location': 'inline',
      }),
    ).toBe(200);
    expect(
      await total(reader, 'proxystream.consumer.received.bytes', {
        'proxystream.body.location': 'stored',
      }),
    ).toBe(2000);
    expect(await total(reader, 'proxystream.consumer.decode_errors')).toBe(1);
    expect(await total(reader, 'proxystream.consumer.gaps', sent)).toBe(2);
    expect(await total(reader, 'proxystream.consumer.duplicates', sent)).toBe(1);
    expect(errors).toHaveLength(2);
  });
});
