// Resolved telemetry configuration (see telemetry-schema.ts for the file form).
import type { RawTelemetry } from './telemetry-schema.js';
import { parseSecretRef, type SecretRef, type ValueSource } from './secrets.js';

export interface MetricsConfig {
  enabled: boolean;
  /** A listener of its own; undefined: /metrics on the gateway listener, behind `token`. */
  listen: { host: string; port: number } | undefined;
  token: SecretRef | undefined;
  processMetrics: boolean;
}

export interface TracingConfig {
  enabled: boolean;
  endpoint: string | undefined;
  headers: Record<string, ValueSource>;
  sampleRatio: number;
  serviceName: string | undefined;
  maxQueueSpans: number;
  exportIntervalMs: number;
  exportTimeoutMs: number;
}

export interface StatusConfig {
  url: string;
  headers: Record<string, ValueSource>;
  partitionName: string | undefined;
  intervalMs: number;
  prometheus: boolean;
}

export interface TelemetryConfig {
  metrics: MetricsConfig;
  tracing: TracingConfig;
  status: StatusConfig | undefined;
}

function valueSources(
  record: Record<string, string | { literal: string }>,
  where: string,
  baseDir: string,
): Record<string, ValueSource> {
  const out: Record<string, ValueSource> = {};
  for (const [name, value] of Object.entries(record)) {
    out[name] =
      typeof value === 'string'
        ? parseSecretRef(value, `${where}.${name}`, baseDir)
        : { kind: 'literal', value: value.literal };
  }
  return out;
}

export function resolveTelemetry(raw: RawTelemetry, baseDir: string): TelemetryConfig {
  const { metrics, tracing, status } = raw;
  return {
    metrics: {
      enabled: metrics.enabled,
      listen: metrics.listen,
      token:
        metrics.token === undefined
          ? undefined
          : parseSecretRef(metrics.token, 'telemetry.metrics.token', baseDir),
      processMetrics: metrics.process_metrics,
    },
    tracing: {
      enabled: tracing.enabled,
      endpoint: tracing.endpoint,
      headers: valueSources(tracing.headers, 'telemetry.tracing.headers', baseDir),
      sampleRatio: tracing.sample_ratio,
      serviceName: tracing.service_name,
      maxQueueSpans: tracing.max_queue_spans,
      exportIntervalMs: Math.round(tracing.export_interval_s * 1000),
      exportTimeoutMs: Math.round(tracing.export_timeout_s * 1000),
    },
    status:
      status === undefined
        ? undefined
        : {
            url: status.url.replace(/\/+$/, ''),
            headers: valueSources(status.headers, 'telemetry.status.headers', baseDir),
            partitionName: status.partition_name,
            intervalMs: Math.round(status.interval_s * 1000),
            prometheus: status.prometheus,
          },
  };
}
