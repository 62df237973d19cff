// The OpenTelemetry SDK of one process or worker of the telemetry test: spans and metrics kept
// in memory, registered globally (as an application would), dumped as plain JSON.
import { metrics, trace } from '@opentelemetry/api';
import { AggregationTemporality, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';

class ManualReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  async onShutdown() {}
  async onForceFlush() {}
}

export function registerSdk(where) {
  const exporter = new InMemorySpanExporter();
  const reader = new ManualReader();
  trace.setGlobalTracerProvider(
    new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
  );
  metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
  return {
    /** Every finished span, and every data point of the metrics collected now. */
    async dump() {
      const spans = exporter.getFinishedSpans().map((span) => ({
        where,
        name: span.name,
        kind: span.kind,
        traceId: span.spanContext().traceId,
        spanId: span.spanContext().spanId,
        parentSpanId: span.parentSpanContext?.spanId,
        links: span.links.map((link) => link.context.spanId),
        attributes: span.attributes,
        status: span.status.code,
      }));
      const { resourceMetrics } = await reader.collect();
      const points = [];
      for (const scope of resourceMetrics.scopeMetrics) {
        for (const metric of scope.metrics) {
          for (const point of metric.dataPoints) {
            points.push({
              where,
              name: metric.descriptor.name,
              attributes: point.attributes,
              value: point.value,
            });
          }
        }
      }
      return { spans, metrics: points };
    },
  };
}
