import type { TraceContext } from '@proxystream/protocols';

/**
 * Where traces and metrics go. By default the producer, consumer or reference reads the global
 * OpenTelemetry providers once, when it is created: register the SDK first (as for any
 * instrumentation). `@opentelemetry/api` is an optional peer dependency: without it, or with no
 * SDK registered, nothing is recorded and nothing is paid per object.
 */
export interface TelemetryOptions {
  /** An OpenTelemetry `TracerProvider`. Default: the global one, if an SDK registered one. */
  readonly tracerProvider?: object;
  /** An OpenTelemetry `MeterProvider`. Default: the global one, if an SDK registered one. */
  readonly meterProvider?: object;
}

/**
 * Where a reference comes from, for the span of its resolve: the topic, the consumer's receive
 * span (the resolve's parent, unless the resolving code has a span of its own) and the producer's
 * send span (linked). It travels in {@link ProxyReferenceJSON}, so a worker that resolves a
 * reference handed on still joins the object's trace.
 */
export interface ReferenceTrace {
  /** Topic the object was sent on. */
  readonly topic: string;
  /** `messaging.system` of the broker it came through. */
  readonly system?: string;
  /** The consumer's `receive` span of the object. */
  readonly parent?: TraceContext;
  /** The producer's `send` span of the object. */
  readonly origin?: TraceContext;
}
