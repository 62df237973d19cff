import type * as Otel from '@opentelemetry/api';
import type {
  EventBatch,
  MessagingAttributes,
  NewObjectEvent,
  SequenceGapError,
  TraceContext,
} from '@proxystream/protocols';
import { LOCATION_ATTRIBUTE } from './producer-telemetry.js';
import { ReferenceTelemetry } from './reference-telemetry.js';
import { spanContextOf, type Telemetry, traceContextOf } from './telemetry.js';
import type { ReferenceTrace } from './telemetry-options.js';

/** A subscriber that can tell its lag (see `Subscriber.lag`). */
interface LagSource {
  lag?(): Promise<number | undefined>;
}

/**
 * What a {@link StreamConsumer} records when telemetry is on: a `receive {topic}` consumer span
 * per delivered object (from the arrival of its batch until it is yielded; child of the send
 * span, and linked to it), counters of objects, bytes and batches received, of gaps, duplicates
 * and malformed messages, and a lag gauge when the subscriber can tell its lag.
 */
export class ConsumerTelemetry {
  readonly #api: Telemetry['api'];
  readonly #tracer: Otel.Tracer | undefined;
  readonly #messaging: MessagingAttributes;
  readonly #consumed: Otel.Counter | undefined;
  readonly #bytes: Otel.Counter | undefined;
  readonly #batches: Otel.Counter | undefined;
  readonly #gaps: Otel.Counter | undefined;
  readonly #duplicates: Otel.Counter | undefined;
  readonly #decodeErrors: Otel.Counter | undefined;
  readonly #lag: Otel.ObservableGauge | undefined;
  readonly #observeLag: Otel.ObservableCallback | undefined;
  /** The telemetry of the references this consumer makes. */
  readonly references: ReferenceTelemetry;
  readonly #attributes = new Map<string, Otel.Attributes>();
  readonly #base: Otel.Attributes;

  constructor(telemetry: Telemetry, messaging: MessagingAttributes, source: object) {
    const subscriber = source as LagSource;
    this.#api = telemetry.api;
    this.#tracer = telemetry.tracer;
    this.#messaging = messaging;
    this.references = new ReferenceTelemetry(telemetry);
    this.#base =
      messaging.group === undefined
        ? { 'messaging.system': messaging.system }
        : {
            'messaging.system': messaging.system,
            'messaging.consumer.group.name': messaging.group,
          };
    const meter = telemetry.meter;
    if (meter === undefined) return;
    this.#consumed = meter.createCounter('messaging.client.consumed.messages', {
      description: 'Objects the consumer received (before its filter).',
      unit: '{message}',
    });
    this.#bytes = meter.createCounter('proxystream.consumer.received.bytes', {
      description:
        'Serialised bytes of the objects received, inline in the envelope or resolved from the store.',
      unit: 'By',
    });
    this.#batches = meter.createCounter('proxystream.consumer.received.batches', {
      description: 'Envelopes (batches) the consumer received, duplicates not counted.',
      unit: '{batch}',
    });
    this.#gaps = meter.createCounter('proxystream.consumer.gaps', {
      description:
        'Batches found missing from a producer sequence (lost), as reported through onGap.',
      unit: '{batch}',
    });
    this.#duplicates = meter.createCounter('proxystream.consumer.duplicates', {
      description: 'Batches received again (duplicates or reordered), skipped.',
      unit: '{batch}',
    });
    this.#decodeErrors = meter.createCounter('proxystream.consumer.decode_errors', {
      description:
        'Messages that were not valid envelopes (or of another topic), skipped or thrown.',
      unit: '{message}',
    });
    const lag = subscriber.lag;
    if (typeof lag === 'function') {
      this.#lag = meter.createObservableGauge('proxystream.consumer.lag', {
        description:
          'Messages the broker holds for this subscriber (or its group) that it has not received yet.',
        unit: '{message}',
      });
      const attributes = this.#base;
      this.#observeLag = async (result) => {
        const value = await lag.call(subscriber).catch(() => undefined);
        if (value !== undefined) result.observe(value, attributes);
      };
      this.#lag.addCallback(this.#observeLag);
    }
  }

  /** Whether delivered objects get spans. */
  get tracing(): boolean {
    return this.#tracer !== undefined;
  }

  /** Counts a batch installed for delivery. */
  received(batch: EventBatch): void {
    if (this.#consumed === undefined) return;
    let objects = 0;
    let inline = 0;
    for (const event of batch.events) {
      if (event.type !== 'new-object') continue;
      objects++;
      if (event.body.kind === 'inline') inline += event.body.data.byteLength;
    }
    const attributes = this.#attributesOf(batch.topic, undefined);
    this.#batches!.add(1, attributes);
    if (objects > 0) this.#consumed.add(objects, attributes);
    if (inline > 0) this.#bytes!.add(inline, this.#attributesOf(batch.topic, 'inline'));
  }

  /** Counts a gap or a duplicate that the sequence tracker found. */
  sequenceReport(error: SequenceGapError): void {
    if (this.#gaps === undefined) return;
    const attributes = this.#attributesOf(error.topic, undefined);
    if (error.received > error.expected)
      this.#gaps.add(error.received - error.expected, attributes);
    else this.#duplicates!.add(1, attributes);
  }

  /** Counts a malformed message. */
  decodeError(): void {
    this.#decodeErrors?.add(1, this.#base);
  }

  /**
   * The `receive` span of one delivered object, started when its batch arrived (`arrivedAt`, ms
   * since the epoch) and ended now; returns the trace a reference of it carries on.
   */
  delivered(topic: string, event: NewObjectEvent, arrivedAt: number): ReferenceTrace {
    const api = this.#api;
    const origin = event.trace;
    let parent = api.context.active();
    let links: Otel.Link[] | undefined;
    if (origin !== undefined) {
      const context = spanContextOf(api, origin);
      parent = api.trace.setSpanContext(parent, context);
      links = [{ context }];
    }
    const attributes: Otel.Attributes = {
      ...this.#base,
      'messaging.destination.name': topic,
      'messaging.operation.type': 'receive',
      'messaging.operation.name': 'receive',
    };
    const body = event.body;
    if (body.kind === 'inline') attributes['messaging.message.body.size'] = body.data.byteLength;
    const span = this.#tracer!.startSpan(
      `receive ${topic}`,
      { kind: api.SpanKind.CONSUMER, attributes, links, startTime: arrivedAt },
      parent,
    );
    span.end();
    const received: TraceContext = traceContextOf(span);
    return origin === undefined
      ? { topic, system: this.#messaging.system, parent: received }
      : { topic, system: this.#messaging.system, parent: received, origin };
  }

  /** Stops observing the lag. */
  close(): void {
    if (this.#lag !== undefined && this.#observeLag !== undefined) {
      this.#lag.removeCallback(this.#observeLag);
    }
  }

  #attributesOf(topic: string, location: 'inline' | undefined): Otel.Attributes {
    const key = location === undefined ? topic : `${location}\u0000${topic}`;
    let attributes = this.#attributes.get(key);
    if (attributes === undefined) {
      attributes = { ...this.#base, 'messaging.destination.name': topic };
      if (location !== undefined) attributes[LOCATION_ATTRIBUTE] = location;
      if (this.#attributes.size >= 4096) this.#attributes.clear();
      this.#attributes.set(key, attributes);
    }
    return attributes;
  }
}
