// The gateway's Prometheus metrics: one registry per gateway, every metric defined in the
// table below (adding a metric is one line there, then its producer), names following
// OpenTelemetry's MCP semantic conventions where they exist (mcp.server.operation.duration
// becomes mcp_server_operation_duration_seconds) and `mcpgate_` otherwise.
//
// Labels are bounded: methods, upstream and destination names come from the code or the
// configuration; free values (purposes, detectors) go through BoundedLabel, which keeps
// the first LABEL_VALUE_LIMIT distinct values and reports the rest as "_other". No user,
// argument or session id is ever a label. docs/observability.md lists every metric with
// its labels and their cardinality.
//
// On the request path a labelled child is looked up in nested Maps by its label values
// (LabelledChildren), so a call costs a few Map reads and prom-client's own update, and no
// label object or key string of ours.
import {
  collectDefaultMetrics,
  Gauge,
  Registry,
  type GaugeConfiguration,
  type Metric,
} from 'prom-client';
import {
  FastCounter,
  FastHistogram,
  type CounterChild,
  type HistogramChild,
} from './fast-metrics.js';

export { LabelledChildren } from './fast-metrics.js';

/** Request durations, seconds: a gateway decision takes well under a millisecond, a tool minutes. */
export const OPERATION_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300,
];
/** One wasm evaluation, seconds: tens of microseconds. */
export const EVALUATION_BUCKETS = [
  0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05,
];
/** One session-store operation, seconds: memory is microseconds, Redis a round trip. */
export const STORE_BUCKETS = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
];
/** A session's life, seconds: a minute to a day. */
export const SESSION_BUCKETS = [1, 10, 60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400];

/** Distinct values a free label (purpose, detector) may take before "_other". */
export const LABEL_VALUE_LIMIT = 64;
export const OTHER_LABEL_VALUE = '_other';

type LabelList<L extends string> = readonly L[];

function histogram<L extends string>(
  name: string,
  help: string,
  labelNames: LabelList<L>,
  buckets: number[],
): () => FastHistogram<L> {
  return () => new FastHistogram(name, help, labelNames, buckets);
}
function counter<L extends string>(
  name: string,
  help: string,
  labelNames: LabelList<L>,
): () => FastCounter<L> {
  return () => new FastCounter(name, help, labelNames);
}
function gauge<L extends string>(
  name: string,
  help: string,
  labelNames: LabelList<L>,
): GaugeConfiguration<L> {
  return { name, help, labelNames: [...labelNames] };
}

const OPERATION = ['mcp_method_name', 'upstream', 'outcome'] as const;

/**
 * Every metric the gateway exports, one line each. Gauges that mirror a state (sessions,
 * upstreams, decision-log buffers, bundle) are read when Prometheus scrapes
 * (GatewayMetrics.onCollect), so they cost nothing per request.
 */
const HISTOGRAMS = {
  serverOperation: histogram(
    'mcp_server_operation_duration_seconds',
    "MCP requests served to clients, from the start of the method's chain to its answer (OTel mcp.server.operation.duration)",
    OPERATION,
    OPERATION_BUCKETS,
  ),
  clientOperation: histogram(
    'mcp_client_operation_duration_seconds',
    'MCP requests the gateway sent to upstream servers (OTel mcp.client.operation.duration)',
    OPERATION,
    OPERATION_BUCKETS,
  ),
  serverSession: histogram(
    'mcp_server_session_duration_seconds',
    'Client sessions held by this process, from opening to release (OTel mcp.server.session.duration)',
    [] as const,
    SESSION_BUCKETS,
  ),
  policyEvaluation: histogram(
    'mcpgate_policy_evaluation_duration_seconds',
    'One evaluation of the Rego policy in wasm',
    ['path'] as const,
    EVALUATION_BUCKETS,
  ),
  storeOperation: histogram(
    'mcpgate_session_store_duration_seconds',
    'Session-store operations (memory or Redis), failed ones included',
    ['operation'] as const,
    STORE_BUCKETS,
  ),
};

const COUNTERS = {
  decisions: counter(
    'mcpgate_decisions_total',
    'Decisions taken, by policy path, result and session purpose',
    ['path', 'result', 'purpose'] as const,
  ),
  denials: counter(
    'mcpgate_denials_total',
    'Denied requests by method and reason code (a stable code, never the reason text)',
    ['mcp_method_name', 'reason_code'] as const,
  ),
  storeErrors: counter(
    'mcpgate_session_store_errors_total',
    'Session-store operations that failed (unreachable, timed out, malformed answer)',
    ['operation'] as const,
  ),
  guardrailFindings: counter(
    'mcpgate_guardrail_findings_total',
    'Guardrail findings by detector, in arguments and in results',
    ['detector'] as const,
  ),
  approvalsDecided: counter(
    'mcpgate_approvals_decided_total',
    'Human approvals settled, by outcome: approved or denied (counted where the person decided), expired (where the call was held)',
    ['outcome'] as const,
  ),
  traceSpansExported: counter(
    'mcpgate_trace_spans_exported_total',
    'Spans handed to the OTLP exporter, by result (failure: the receiver was unreachable or refused them; dropped: more than max_queue_spans were waiting)',
    ['result'] as const,
  ),
  upstreamRestarts: counter(
    'mcpgate_upstream_restarts_total',
    'Restarts of the upstream shared connection after a crash, disconnect or failed connect',
    ['upstream'] as const,
  ),
  decisionLogDropped: counter(
    'mcpgate_decision_log_dropped_total',
    'Decision-log events dropped: buffer = a full service buffer with drop_oldest, policy = system.log.drop',
    ['reason'] as const,
  ),
  decisionLogRefused: counter(
    'mcpgate_decision_log_refused_total',
    'Decisions whose line no destination could take; those requests were refused',
    [] as const,
  ),
  decisionLogWriteErrors: counter(
    'mcpgate_decision_log_write_errors_total',
    'Failed writes and uploads of decision-log lines (they are retried)',
    [] as const,
  ),
  bundleRefusals: counter(
    'mcpgate_bundle_refusals_total',
    'Candidate policy bundles refused (the bundle in force stays)',
    [] as const,
  ),
  statusReports: counter(
    'mcpgate_status_reports_total',
    'Status reports sent to the OPA status service, by result',
    ['result'] as const,
  ),
};

const GAUGES = {
  sessionsOpen: gauge('mcpgate_sessions_open', 'Client sessions this process holds', [] as const),
  upstreamUp: gauge(
    'mcpgate_upstream_up',
    'Upstream connected and answering its health check (1) or not (0)',
    ['upstream'] as const,
  ),
  upstreamState: gauge(
    'mcpgate_upstream_state',
    'Upstream shared connection state (1 for the current state)',
    ['upstream', 'state'] as const,
  ),
  decisionLogBufferedBytes: gauge(
    'mcpgate_decision_log_buffered_bytes',
    'Bytes waiting to be written, per stdout or file destination',
    ['destination'] as const,
  ),
  decisionLogBufferedEvents: gauge(
    'mcpgate_decision_log_buffered_events',
    'Events waiting to be uploaded to decision-log services',
    [] as const,
  ),
  bundleInfo: gauge(
    'mcpgate_bundle_info',
    'The policy bundle in force (1), its revision as a label',
    ['revision'] as const,
  ),
  bundleActivation: gauge(
    'mcpgate_bundle_activation_timestamp_seconds',
    'When the bundle in force was activated (Unix time)',
    [] as const,
  ),
  toolsByTrust: gauge(
    'mcpgate_tools',
    'Tools by trust state under the pins in force: pinned, pending, changed, high_findings (unacknowledged high-severity scan findings)',
    ['state'] as const,
  ),
  approvalsPending: gauge(
    'mcpgate_approvals_pending',
    'Calls held in this process waiting for a person to approve them',
    [] as const,
  ),
};

type Made<C> = C extends () => infer M ? M : never;
type GaugeOf<C> = C extends GaugeConfiguration<infer L> ? Gauge<L> : never;

/** Keeps the first `limit` distinct values of a free label; the rest become "_other". */
export class BoundedLabel {
  private readonly seen = new Set<string>();

  constructor(private readonly limit = LABEL_VALUE_LIMIT) {}

  value(raw: string): string {
    if (this.seen.has(raw)) return raw;
    if (this.seen.size >= this.limit) return OTHER_LABEL_VALUE;
    this.seen.add(raw);
    return raw;
  }
}

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly histograms: { [K in keyof typeof HISTOGRAMS]: Made<(typeof HISTOGRAMS)[K]> };
  readonly counters: { [K in keyof typeof COUNTERS]: Made<(typeof COUNTERS)[K]> };
  readonly gauges: { [K in keyof typeof GAUGES]: GaugeOf<(typeof GAUGES)[K]> };
  /** Free-valued labels, bounded. */
  readonly purposes = new BoundedLabel();
  readonly detectors = new BoundedLabel();

  private readonly collectors: Array<() => void> = [];
  private readonly mirrored = new Map<string, number>();

  constructor(options: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    // The scrape-time readings run once per scrape, before the registry renders: this
    // gauge is registered first, so its collect runs before any other metric is read.
    const collectHook = new Gauge({
      name: 'mcpgate_scrape_collect_errors',
      help: 'Errors while reading the gateway state at scrape time (0 when none)',
      registers,
      collect: () => {
        let errors = 0;
        for (const collect of this.collectors) {
          try {
            collect();
          } catch {
            errors++;
          }
        }
        collectHook.set(errors);
      },
    });
    // The request path's counters and histograms are fast-metrics.ts's; prom-client renders
    // them (its Registry reads any metric with get()), so the registry's type is widened.
    const register = <M extends FastCounter<string> | FastHistogram<string>>(metric: M): M => {
      this.registry.registerMetric(metric as unknown as Metric);
      return metric;
    };
    const made = <T extends Record<string, () => FastCounter<string> | FastHistogram<string>>>(
      table: T,
    ): { [K in keyof T]: Made<T[K]> } => {
      const out = {} as { [K in keyof T]: Made<T[K]> };
      for (const key of Object.keys(table) as Array<keyof T>) {
        out[key] = register(table[key]!()) as Made<T[typeof key]>;
      }
      return out;
    };
    this.histograms = made(HISTOGRAMS);
    this.counters = made(COUNTERS);
    const gauges = {} as { [K in keyof typeof GAUGES]: Gauge<string> };
    for (const key of Object.keys(GAUGES) as Array<keyof typeof GAUGES>) {
      gauges[key] = new Gauge({ ...(GAUGES[key] as GaugeConfiguration<string>), registers });
    }
    this.gauges = gauges;
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /**
   * At scrape time: brings a counter up to a cumulative count the gateway keeps elsewhere
   * (decision-log and bundle statistics, upstream restarts), so nothing is counted twice.
   */
  mirrorCount<L extends string>(
    counter: FastCounter<L>,
    labels: Partial<Record<L, string>>,
    total: number,
  ): void {
    const key = `${counter.name}${JSON.stringify(labels)}`;
    const last = this.mirrored.get(key) ?? 0;
    if (total <= last) return;
    counter.inc(labels, total - last);
    this.mirrored.set(key, total);
  }

  /** Runs `collect` at every scrape (before rendering): gauges that mirror a state. */
  onCollect(collect: () => void): void {
    this.collectors.push(collect);
  }

  serverOperation(method: string, upstream: string, outcome: string): HistogramChild {
    return this.histograms.serverOperation.child(method, upstream, outcome);
  }

  clientOperation(method: string, upstream: string, outcome: string): HistogramChild {
    return this.histograms.clientOperation.child(method, upstream, outcome);
  }

  policyEvaluation(path: string): HistogramChild {
    return this.histograms.policyEvaluation.child(path);
  }

  decision(path: string, result: string, purpose: string): CounterChild {
    return this.counters.decisions.child(path, result, this.purposes.value(purpose));
  }

  denial(method: string, reasonCode: string): CounterChild {
    return this.counters.denials.child(method, reasonCode);
  }

  guardrailFinding(detector: string): CounterChild {
    return this.counters.guardrailFindings.child(this.detectors.value(detector));
  }

  /** The text exposition format Prometheus scrapes. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
