import { createRequire } from 'node:module';
import type * as Otel from '@opentelemetry/api';
import type { MessagingAttributes, TraceContext } from '@proxystream/protocols';
import type { TelemetryOptions } from './telemetry-options.js';

/** Instrumentation scope of every span and instrument. */
export const INSTRUMENTATION_NAME = '@proxystream/stream';

type Api = typeof Otel;

const require = createRequire(import.meta.url);
let loaded: Api | null | undefined;

/** `@opentelemetry/api` when it is installed, else `null`; loaded once. */
export function otelApi(): Api | null {
  if (loaded === undefined) {
    try {
      loaded = require('@opentelemetry/api') as Api;
    } catch {
      loaded = null;
    }
  }
  return loaded;
}

function version(): string {
  try {
    return (require('../package.json') as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

/** The tracer and meter one producer, consumer or reference records with; either may be absent. */
export interface Telemetry {
  readonly api: Api;
  readonly tracer: Otel.Tracer | undefined;
  readonly meter: Otel.Meter | undefined;
}

/**
 * The tracer and meter for `options`, or `undefined` when nothing would be recorded (no API
 * installed, no SDK registered, `false`): callers test that once per object, nothing more.
 */
export function resolveTelemetry(
  options: TelemetryOptions | false | undefined,
): Telemetry | undefined {
  if (options === false) return undefined;
  const api = otelApi();
  if (api === null) return undefined;
  const scopeVersion = version();
  let tracer: Otel.Tracer | undefined;
  const tracerProvider = (options?.tracerProvider ??
    api.trace.getTracerProvider()) as Otel.TracerProvider;
  if (
    options?.tracerProvider !== undefined ||
    !(tracerProvider instanceof api.ProxyTracerProvider) ||
    tracerProvider.getDelegate() !== new api.ProxyTracerProvider().getDelegate()
  ) {
    tracer = tracerProvider.getTracer(INSTRUMENTATION_NAME, scopeVersion);
  }
  let meter: Otel.Meter | undefined;
  const meterProvider = (options?.meterProvider ??
    api.metrics.getMeterProvider()) as Otel.MeterProvider;
  const candidate = meterProvider.getMeter(INSTRUMENTATION_NAME, scopeVersion);
  if (candidate !== api.createNoopMeter()) meter = candidate;
  if (tracer === undefined && meter === undefined) return undefined;
  return { api, tracer, meter };
}

/** `messaging.system` of a publisher or subscriber that declares none. */
export const DEFAULT_MESSAGING_SYSTEM = 'proxystream';

/** What a shim declared about its broker, for spans and metrics. */
export function messagingOf(client: unknown): MessagingAttributes {
  const declared = (client as { messaging?: MessagingAttributes }).messaging;
  return declared ?? { system: DEFAULT_MESSAGING_SYSTEM };
}

const HEX_32 = /^[0-9a-f]{32}$/;
const HEX_16 = /^[0-9a-f]{16}$/;
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
const INVALID_TRACE = '00000000000000000000000000000000';
const INVALID_SPAN = '0000000000000000';

/** The plain {@link TraceContext} of a span, as the envelope carries it. */
export function traceContextOf(span: Otel.Span): TraceContext {
  const context = span.spanContext();
  const state = context.traceState?.serialize();
  return state === undefined || state === ''
    ? { traceId: context.traceId, spanId: context.spanId, traceFlags: context.traceFlags }
    : {
        traceId: context.traceId,
        spanId: context.spanId,
        traceFlags: context.traceFlags,
        traceState: state,
      };
}

/** The OpenTelemetry span context of a {@link TraceContext} from another process. */
export function spanContextOf(api: Api, trace: TraceContext): Otel.SpanContext {
  return {
    traceId: trace.traceId,
    spanId: trace.spanId,
    traceFlags: trace.traceFlags,
    isRemote: true,
    traceState: trace.traceState === undefined ? undefined : api.createTraceState(trace.traceState),
  };
}

/** A W3C `traceparent` header value. */
export function toTraceparent(trace: TraceContext): string {
  const flags = trace.traceFlags.toString(16).padStart(2, '0');
  return `00-${trace.traceId}-${trace.spanId}-${flags}`;
}

/** The {@link TraceContext} of a `traceparent` (and `tracestate`), or `undefined` when it is not one. */
export function fromTraceparent(
  traceparent: unknown,
  tracestate?: unknown,
): TraceContext | undefined {
  if (typeof traceparent !== 'string') return undefined;
  const parts = traceparent.split('-');
  if (parts.length !== 4 || parts[0] !== '00') return undefined;
  const [, traceId, spanId, flags] = parts as [string, string, string, string];
  if (!HEX_32.test(traceId) || traceId === INVALID_TRACE) return undefined;
  if (!HEX_16.test(spanId) || spanId === INVALID_SPAN) return undefined;
  if (!/^[0-9a-f]{2}$/.test(flags)) return undefined;
  const traceFlags = Number.parseInt(flags, 16);
  if (
    typeof tracestate === 'string' &&
    tracestate !== '' &&
    tracestate.length <= 512 &&
    PRINTABLE_ASCII.test(tracestate)
  ) {
    return { traceId, spanId, traceFlags, traceState: tracestate };
  }
  return { traceId, spanId, traceFlags };
}

/** Ends `span` as failed with `error`. */
export function failSpan(api: Api, span: Otel.Span, error: unknown): void {
  if (error instanceof Error) span.recordException(error);
  span.setStatus({
    code: api.SpanStatusCode.ERROR,
    message: error instanceof Error ? error.message : String(error),
  });
  span.end();
}
