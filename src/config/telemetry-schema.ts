// The telemetry section: Prometheus metrics (/metrics on a listener of its own, or on the
// gateway's listener behind a bearer token), OpenTelemetry traces (OTLP/HTTP, off by
// default) and status reports to an OPA-compatible status service (OPA's status plugin).
// docs/configuration.md#telemetry and docs/observability.md describe every key.
import { z } from 'zod';
import { valueSource } from './value-source.js';

const headers = z
  .record(z.string().regex(/^[A-Za-z0-9-]+$/, 'header names are [A-Za-z0-9-]+'), valueSource)
  .default({});

/** A secret by reference only: the metrics token is never written in the config. */
const secretRef = z
  .string()
  .regex(/^(env|file):.+$/, 'must be a secret reference, "env:NAME" or "file:PATH"');

const METRICS_DEFAULTS = { enabled: false, process_metrics: true };

const metricsSchema = z
  .strictObject({
    enabled: z.boolean().default(false),
    /**
     * A listener of its own for /metrics (reach it only from the scraper's network). Unset:
     * /metrics is served on the gateway's listener and needs `token`.
     */
    listen: z
      .strictObject({
        host: z.string().min(1).default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(9464),
      })
      .optional(),
    /** The bearer token Prometheus sends (authorization.credentials_file), by reference. */
    token: secretRef.optional(),
    /** Node.js process metrics (CPU, memory, event-loop delay, GC) besides the gateway's. */
    process_metrics: z.boolean().default(true),
  })
  .superRefine((m, ctx) => {
    if (m.enabled && m.listen === undefined && m.token === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['token'],
        message:
          'metrics on the gateway listener need a bearer token (token: env:NAME or file:PATH); ' +
          'or give them a listener of their own (listen: {host, port})',
      });
    }
  })
  .default(METRICS_DEFAULTS);

/** Tracing as a configuration without the key has it: off. */
const TRACING_DEFAULTS = {
  enabled: false,
  headers: {},
  sample_ratio: 1,
  max_queue_spans: 4096,
  export_interval_s: 2,
  export_timeout_s: 10,
  allow_insecure_http: false,
};

const tracingSchema = z
  .strictObject({
    enabled: z.boolean().default(false),
    /** OTLP/HTTP traces endpoint, e.g. http://otel-collector:4318/v1/traces. */
    endpoint: z.url({ protocol: /^https?$/ }).optional(),
    headers,
    /** Share of new traces recorded (0-1); a request with a sampled parent is always recorded. */
    sample_ratio: z.number().min(0).max(1).default(1),
    /** service.name of the spans; default the gateway id. */
    service_name: z.string().min(1).optional(),
    /** Spans waiting for export; more are dropped (counted in mcpgate_trace_spans_dropped_total). */
    max_queue_spans: z.number().int().min(64).max(1_000_000).default(4096),
    /** Export at least this often while spans wait. */
    export_interval_s: z.number().positive().max(60).default(2),
    export_timeout_s: z.number().positive().max(120).default(10),
    allow_insecure_http: z.boolean().default(false),
  })
  .superRefine((t, ctx) => {
    if (!t.enabled) return;
    if (t.endpoint === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['endpoint'],
        message: 'name the OTLP/HTTP traces endpoint (e.g. https://collector:4318/v1/traces)',
      });
    } else if (!t.allow_insecure_http && !t.endpoint.startsWith('https://')) {
      ctx.addIssue({
        code: 'custom',
        path: ['endpoint'],
        message: `${t.endpoint} is not https (set allow_insecure_http: true only for local testing)`,
      });
    }
  })
  .default(TRACING_DEFAULTS);

/** OPA's status plugin: POST {url}/status[/{partition_name}] with OPA's status payload. */
const statusSchema = z
  .strictObject({
    /** The status service's base URL (the `url` of the OPA service the status plugin names). */
    url: z.url({ protocol: /^https?$/ }),
    headers,
    /** Appended to the path as OPA does: POST /status/<partition_name>. */
    partition_name: z
      .string()
      .regex(/^[A-Za-z0-9._~-]{1,128}$/, 'a partition name is 1-128 URL-safe characters')
      .optional(),
    /** A report goes out on every change, and at least this often (a heartbeat). */
    interval_s: z.number().positive().max(3600).default(60),
    /** Include the gateway's Prometheus metrics as OPA does (status.prometheus). */
    prometheus: z.boolean().default(false),
    allow_insecure_http: z.boolean().default(false),
  })
  .superRefine((s, ctx) => {
    if (!s.allow_insecure_http && !s.url.startsWith('https://')) {
      ctx.addIssue({
        code: 'custom',
        path: ['url'],
        message: `${s.url} is not https (set allow_insecure_http: true only for local testing)`,
      });
    }
  })
  .optional();

export const telemetrySchema = z
  .strictObject({
    metrics: metricsSchema,
    tracing: tracingSchema,
    status: statusSchema,
  })
  .superRefine((t, ctx) => {
    if (t.status?.prometheus === true && !t.metrics.enabled) {
      ctx.addIssue({
        code: 'custom',
        path: ['status', 'prometheus'],
        message: 'status reports can include the metrics only when metrics.enabled is true',
      });
    }
  })
  .default({
    metrics: METRICS_DEFAULTS,
    tracing: TRACING_DEFAULTS,
  });

export type RawTelemetry = z.infer<typeof telemetrySchema>;
