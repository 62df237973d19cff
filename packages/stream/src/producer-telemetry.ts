import type * as Otel from '@opentelemetry/api';
import type { MessagingAttributes, Store, StreamEvent, TraceContext } from '@proxystream/protocols';
import { failSpan, type Telemetry, traceContextOf } from './telemetry.js';

/** Attribute of the byte and object counters: where the object's bytes travelled. */
export const LOCATION_ATTRIBUTE = 'proxystream.body.location';

/**
 * The spans and byte counts of one cut batch, from the cut until the publisher accepted or
 * refused it. The batch assembly fills in the bytes and the store span, and stamps each event
 * with its send span's context.
 */
export class BatchTelemetry {
  /** Objects serialised into the envelope, in bytes. */
  inlineBytes = 0;
  /** Objects put in the store, in bytes. */
  storedBytes = 0;
  readonly #contexts: (TraceContext | undefined)[] | undefined;

  constructor(
    readonly owner: ProducerTelemetry,
    readonly topic: string,
    /** The send span of each object of the batch, in order (empty when not tracing). */
    readonly spans: Otel.Span[],
  ) {
    this.#contexts = spans.length === 0 ? undefined : spans.map(traceContextOf);
  }

  /** Records the serialised size of object `index` on its send span. */
  size(index: number, bytes: number): void {
    this.spans[index]?.setAttribute('messaging.message.body.size', bytes);
  }

  /**
   * Gives the first `count` events of `events` their object's trace context (with an aggregator,
   * the one event carries the first object's).
   */
  stamp(events: StreamEvent[], count: number): void {
    const contexts = this.#contexts;
    if (contexts === undefined) return;
    for (let i = 0; i < count; i++) {
      const event = events[i];
      const trace = contexts[i];
      if (event?.type === 'new-object' && trace !== undefined) events[i] = { ...event, trace };
    }
  }

  /** A span around one `put`/`putBatch` of the objects at `positions`, child of the first one's send span. */
  storeSpan(store: Store, positions: readonly number[]): Otel.Span | undefined {
    return this.owner.storeSpan(this, store, positions);
  }

  /** Ends a span of {@link storeSpan}: the bytes put, or the store's error. */
  endStoreSpan(span: Otel.Span | undefined, bytes: number, error?: unknown): void {
    if (span === undefined) return;
    span.setAttribute('proxystream.store.bytes', bytes);
    if (error === undefined) span.end();
    else this.owner.fail(span, error);
  }
}

/**
 * What a {@link StreamProducer} records when telemetry is on: a `send {topic}` producer span per
 * object (from `send` until its batch was accepted or refused), a `put {topic}` client span per
 * store round trip, and counters of objects, bytes and batches sent and refused.
 */
export class ProducerTelemetry {
  readonly #api: Telemetry['api'];
  readonly #tracer: Otel.Tracer | undefined;
  readonly #messaging: MessagingAttributes;
  readonly #sentObjects: Otel.Counter | undefined;
  readonly #sentBytes: Otel.Counter | undefined;
  readonly #sentBatches: Otel.Counter | undefined;
  readonly #refused: Otel.Counter | undefined;
  /** Metric attributes per topic and location, made once. */
  readonly #attributes = new Map<string, Otel.Attributes>();

  constructor(telemetry: Telemetry, messaging: MessagingAttributes) {
    this.#api = telemetry.api;
    this.#tracer = telemetry.tracer;
    this.#messaging = messaging;
    const meter = telemetry.meter;
    if (meter !== undefined) {
      this.#sentObjects = meter.createCounter('messaging.client.sent.messages', {
        description: 'Objects the producer sent and the publisher accepted.',
        unit: '{message}',
      });
      this.#sentBytes = meter.createCounter('proxystream.producer.sent.bytes', {
        description:
          'Serialised bytes of the objects sent, inline in the envelope or through the store.',
        unit: 'By',
      });
      this.#sentBatches = meter.createCounter('proxystream.producer.sent.batches', {
        description: 'Envelopes (batches) the publisher accepted.',
        unit: '{batch}',
      });
      this.#refused = meter.createCounter('proxystream.producer.refused.messages', {
        description:
          'Objects whose batch the publisher or the store refused (reported to the caller).',
        unit: '{message}',
      });
    }
  }

  /** Whether sends get spans. */
  get tracing(): boolean {
    return this.#tracer !== undefined;
  }

  /** Starts the send span of one object, child of the caller's active span. */
  startSend(topic: string): Otel.Span {
    const api = this.#api;
    return this.#tracer!.startSpan(
      `send ${topic}`,
      {
        kind: api.SpanKind.PRODUCER,
        attributes: {
          'messaging.system': this.#messaging.system,
          'messaging.destination.name': topic,
          'messaging.operation.type': 'send',
          'messaging.operation.name': 'send',
        },
      },
      api.context.active(),
    );
  }

  /** Ends `span` as failed with `error`. */
  fail(span: Otel.Span, error: unknown): void {
    failSpan(this.#api, span, error);
  }

  /** The telemetry of a batch cut with these send spans. */
  batch(topic: string, spans: Otel.Span[]): BatchTelemetry {
    return new BatchTelemetry(this, topic, spans);
  }

  storeSpan(
    batch: BatchTelemetry,
    store: Store,
    positions: readonly number[],
  ): Otel.Span | undefined {
    const tracer = this.#tracer;
    const first = batch.spans[positions[0]!];
    if (tracer === undefined || first === undefined) return undefined;
    const api = this.#api;
    const links: Otel.Link[] = [];
    for (let j = 1; j < positions.length; j++) {
      const span = batch.spans[positions[j]!];
      if (span !== undefined) links.push({ context: span.spanContext() });
    }
    const config = store.config();
    return tracer.startSpan(
      `put ${batch.topic}`,
      {
        kind: api.SpanKind.CLIENT,
        attributes: {
          'messaging.destination.name': batch.topic,
          'messaging.batch.message_count': positions.length,
          'proxystream.store.kind': config.kind,
          'proxystream.store.name': config.name,
          'proxystream.store.operation': 'put',
        },
        links,
      },
      api.trace.setSpan(api.context.active(), first),
    );
  }

  /**
   * The batch was accepted (`error` undefined) or refused: ends its send spans (the last one as
   * withdrawn when `withdrawn`) and counts it.
   */
  settled(batch: BatchTelemetry, objects: number, error: unknown, withdrawn: boolean): void {
    const spans = batch.spans;
    const api = this.#api;
    const last = withdrawn ? spans.length - 1 : spans.length;
    for (let i = 0; i < spans.length; i++) {
      const span = spans[i]!;
      if (i === last) {
        failSpan(api, span, new Error('send aborted before its batch was handed over'));
        continue;
      }
      span.setAttribute('messaging.batch.message_count', objects);
      if (error === undefined) span.end();
      else failSpan(api, span, error);
    }
    if (this.#sentObjects === undefined) return;
    const topic = batch.topic;
    if (error !== undefined) {
      if (objects > 0) this.#refused!.add(objects, this.#attributesOf(topic, undefined));
      return;
    }
    this.#sentBatches!.add(1, this.#attributesOf(topic, undefined));
    if (objects > 0) this.#sentObjects.add(objects, this.#attributesOf(topic, undefined));
    if (batch.inlineBytes > 0)
      this.#sentBytes!.add(batch.inlineBytes, this.#attributesOf(topic, 'inline'));
    if (batch.storedBytes > 0)
      this.#sentBytes!.add(batch.storedBytes, this.#attributesOf(topic, 'stored'));
  }

  #attributesOf(topic: string, location: 'inline' | 'stored' | undefined): Otel.Attributes {
    const key = location === undefined ? topic : `${location}\u0000${topic}`;
    let attributes = this.#attributes.get(key);
    if (attributes === undefined) {
      attributes = {
        'messaging.system': this.#messaging.system,
        'messaging.destination.name': topic,
        'messaging.operation.name': 'send',
      };
      if (location !== undefined) attributes = { ...attributes, [LOCATION_ATTRIBUTE]: location };
      if (this.#attributes.size >= 4096) this.#attributes.clear();
      this.#attributes.set(key, attributes);
    }
    return attributes;
  }
}
