import type * as Otel from '@opentelemetry/api';
import type { StoreConfig } from '@proxystream/protocols';
import { LOCATION_ATTRIBUTE } from './producer-telemetry.js';
import {
  DEFAULT_MESSAGING_SYSTEM,
  failSpan,
  otelApi,
  resolveTelemetry,
  spanContextOf,
  type Telemetry,
} from './telemetry.js';
import type { ReferenceTrace, TelemetryOptions } from './telemetry-options.js';

/** One resolve in progress: its `process` span and the `get` span of the store round trip. */
export interface ResolveSpans {
  readonly process: Otel.Span | undefined;
  readonly get: Otel.Span | undefined;
}

/**
 * What a {@link ProxyReference} records when it resolves: a `process {topic}` consumer span
 * (operation name `resolve`), a `get {topic}` client span around the store's `get` with the
 * bytes read, and the bytes in the consumer's byte counter (location `stored`).
 */
export class ReferenceTelemetry {
  readonly #api: Telemetry['api'];
  readonly #tracer: Otel.Tracer | undefined;
  readonly #bytes: Otel.Counter | undefined;

  constructor(telemetry: Telemetry) {
    this.#api = telemetry.api;
    this.#tracer = telemetry.tracer;
    this.#bytes = telemetry.meter?.createCounter('proxystream.consumer.received.bytes', {
      description:
        'Serialised bytes of the objects received, inline in the envelope or resolved from the store.',
      unit: 'By',
    });
  }

  /** Starts the spans of a resolve of `key` (none when not tracing). */
  start(trace: ReferenceTrace | undefined, store: StoreConfig, key: string): ResolveSpans {
    const tracer = this.#tracer;
    if (tracer === undefined) return { process: undefined, get: undefined };
    const api = this.#api;
    const topic = trace?.topic ?? store.name;
    let parent = api.context.active();
    if (api.trace.getSpan(parent) === undefined && trace?.parent !== undefined) {
      parent = api.trace.setSpanContext(parent, spanContextOf(api, trace.parent));
    }
    const links =
      trace?.origin === undefined ? undefined : [{ context: spanContextOf(api, trace.origin) }];
    const process = tracer.startSpan(
      `process ${topic}`,
      {
        kind: api.SpanKind.CONSUMER,
        attributes: {
          'messaging.system': trace?.system ?? DEFAULT_MESSAGING_SYSTEM,
          'messaging.destination.name': topic,
          'messaging.operation.type': 'process',
          'messaging.operation.name': 'resolve',
          'messaging.message.id': key,
        },
        links,
      },
      parent,
    );
    const get = tracer.startSpan(
      `get ${topic}`,
      {
        kind: api.SpanKind.CLIENT,
        attributes: {
          'messaging.destination.name': topic,
          'proxystream.store.kind': store.kind,
          'proxystream.store.name': store.name,
          'proxystream.store.operation': 'get',
        },
      },
      api.trace.setSpan(parent, process),
    );
    return { process, get };
  }

  /** The store answered with `bytes` (or nothing, `undefined`). */
  fetched(spans: ResolveSpans, trace: ReferenceTrace | undefined, bytes: number | undefined): void {
    if (bytes !== undefined) {
      spans.get?.setAttribute('proxystream.store.bytes', bytes);
      spans.process?.setAttribute('messaging.message.body.size', bytes);
      this.#bytes?.add(bytes, {
        'messaging.system': trace?.system ?? DEFAULT_MESSAGING_SYSTEM,
        'messaging.destination.name': trace?.topic ?? '',
        [LOCATION_ATTRIBUTE]: 'stored',
      });
    }
    spans.get?.end();
  }

  /** The resolve ended: `error` undefined when it succeeded. */
  ended(spans: ResolveSpans, error?: unknown): void {
    const api = this.#api;
    const get = spans.get;
    if (get?.isRecording() && error !== undefined) failSpan(api, get, error);
    if (spans.process === undefined) return;
    if (error === undefined) spans.process.end();
    else failSpan(api, spans.process, error);
  }
}

/** The reference telemetry of the global providers, made again only when they change. */
let cached: { key: unknown; delegate: unknown; value: ReferenceTelemetry | undefined } | undefined;

/** Telemetry for a reference revived with `options` (the global providers by default). */
export function referenceTelemetry(
  options: TelemetryOptions | false | undefined,
): ReferenceTelemetry | undefined {
  if (options !== undefined) {
    const telemetry = resolveTelemetry(options);
    return telemetry === undefined ? undefined : new ReferenceTelemetry(telemetry);
  }
  const api = otelApi();
  if (api === null) return undefined;
  const key = api.metrics.getMeterProvider();
  const delegate = (api.trace.getTracerProvider() as Otel.ProxyTracerProvider).getDelegate?.();
  if (cached === undefined || cached.key !== key || cached.delegate !== delegate) {
    const telemetry = resolveTelemetry(undefined);
    cached = {
      key,
      delegate,
      value: telemetry === undefined ? undefined : new ReferenceTelemetry(telemetry),
    };
  }
  return cached.value;
}

/**
 * Telemetry a consumer hands to the references it makes (so that they do not look it up per
 * reference), keyed by the options object of the constructor call.
 */
export const telemetryGiven = new WeakMap<object, ReferenceTelemetry>();
