// The gateway's telemetry, wired to its parts: the metrics that mirror a state (sessions,
// upstreams, decision log, policy bundle) read at scrape time, /metrics on a listener of its
// own or on the gateway listener behind a bearer token, and the tracer. The per-request
// metrics and spans are the pipeline's observe stages (pipeline/stages/observe.ts).
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RequestHandler } from 'express';
import type { DecisionLog } from '../audit/decision-log.js';
import type { MetricsConfig } from '../config/telemetry.js';
import { readValue } from '../config/secrets.js';
import type { SessionManager } from '../http/live-sessions.js';
import type { ApprovalDesk } from '../pipeline/approval-desk.js';
import type { CatalogReviewItem } from '../policy/trust-review.js';
import type { PolicyHolder } from '../policy/holder.js';
import type { PolicyStatus } from '../policy/sources/manager.js';
import type { StoreObserver } from '../sessions/timed-store.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';
import type { UpstreamRegistry } from '../upstreams/registry.js';
import type { Logger } from '../util/logger.js';

/** Every state an upstream connection can be in (the state label's values). */
const UPSTREAM_STATES = ['idle', 'connecting', 'ready', 'backoff', 'closed'] as const;

export interface ObservedParts {
  sessions: SessionManager;
  registry: UpstreamRegistry;
  decisionLog: DecisionLog;
  policy: PolicyHolder;
  policyStatus: () => PolicyStatus;
  /** The live catalog reviewed under the pins in force (Pipeline.toolTrust). */
  toolTrust: () => { items: CatalogReviewItem[] };
  approvals: Pick<ApprovalDesk, 'heldCalls' | 'settled'>;
}

/** The trust states of mcpgate_tools: facts, not the policy's verdict (trust.rego decides). */
const TOOL_STATES = ['pinned', 'pending', 'changed', 'high_findings'] as const;
const APPROVAL_OUTCOMES = ['approved', 'denied', 'expired'] as const;

/** The gauges and counters that mirror a state, read once per scrape. */
export function observeGatewayState(metrics: GatewayMetrics, parts: ObservedParts): void {
  const { gauges, counters, histograms } = metrics;
  parts.sessions.onSessionEnded = (seconds) => histograms.serverSession.observe(seconds);
  metrics.onCollect(() => gauges.sessionsOpen.set(parts.sessions.size));

  metrics.onCollect(() => {
    const notReady = new Set(parts.registry.notReady().map((n) => n.upstream));
    for (const upstream of parts.registry.status()) {
      gauges.upstreamUp.set({ upstream: upstream.name }, notReady.has(upstream.name) ? 0 : 1);
      for (const state of UPSTREAM_STATES) {
        gauges.upstreamState.set(
          { upstream: upstream.name, state },
          upstream.state === state ? 1 : 0,
        );
      }
      metrics.mirrorCount(
        counters.upstreamRestarts,
        { upstream: upstream.name },
        upstream.restarts,
      );
    }
  });

  metrics.onCollect(() => {
    const stats = parts.decisionLog.stats();
    for (const writer of stats.writers) {
      gauges.decisionLogBufferedBytes.set(
        { destination: writer.destination },
        writer.buffered_bytes,
      );
    }
    gauges.decisionLogBufferedEvents.set(stats.buffered);
    metrics.mirrorCount(counters.decisionLogDropped, { reason: 'buffer' }, stats.dropped_buffer);
    metrics.mirrorCount(counters.decisionLogDropped, { reason: 'policy' }, stats.dropped_policy);
    metrics.mirrorCount(counters.decisionLogRefused, {}, stats.refused);
    const writeErrors =
      stats.failed_attempts + stats.writers.reduce((sum, w) => sum + w.failed_writes, 0);
    metrics.mirrorCount(counters.decisionLogWriteErrors, {}, writeErrors);
  });

  // Tools by trust state, under the pins of the policy in force: pin state, plus the tools
  // with high-severity findings their pin does not acknowledge. `changed` and
  // `high_findings` are what the shipped policy quarantines for every purpose.
  metrics.onCollect(() => {
    const counts = Object.fromEntries(TOOL_STATES.map((s) => [s, 0])) as Record<
      (typeof TOOL_STATES)[number],
      number
    >;
    for (const item of parts.toolTrust().items) {
      if (item.kind !== 'tool') continue;
      counts[item.pin.state]++;
      if (item.attention.includes('high_findings')) counts.high_findings++;
    }
    for (const state of TOOL_STATES) gauges.toolsByTrust.set({ state }, counts[state]);
  });

  metrics.onCollect(() => {
    gauges.approvalsPending.set(parts.approvals.heldCalls);
    for (const outcome of APPROVAL_OUTCOMES) {
      metrics.mirrorCount(counters.approvalsDecided, { outcome }, parts.approvals.settled[outcome]);
    }
  });

  let revisionShown: string | undefined;
  metrics.onCollect(() => {
    const status = parts.policyStatus();
    const revision = parts.policy.current()?.revision;
    if (revisionShown !== undefined && revisionShown !== revision) gauges.bundleInfo.reset();
    if (revision !== undefined) gauges.bundleInfo.set({ revision }, 1);
    revisionShown = revision;
    if (status.loaded_at !== undefined) {
      gauges.bundleActivation.set(Date.parse(status.loaded_at) / 1000);
    }
    metrics.mirrorCount(counters.bundleRefusals, {}, status.refusals);
  });
}

/** Session-store operations as metrics (the store is wrapped in a TimedStore). */
export function storeObserver(metrics: GatewayMetrics): StoreObserver {
  const { storeOperation } = metrics.histograms;
  const { storeErrors } = metrics.counters;
  const children = new Map<string, { observe(v: number): void }>();
  return (operation, seconds, failed) => {
    let child = children.get(operation);
    if (child === undefined) {
      child = storeOperation.labels(operation);
      children.set(operation, child);
    }
    child.observe(seconds);
    if (failed) storeErrors.inc({ operation });
  };
}

async function answer(metrics: GatewayMetrics, res: ServerResponse): Promise<void> {
  const text = await metrics.render();
  res.writeHead(200, { 'Content-Type': metrics.contentType, 'Cache-Control': 'no-store' });
  res.end(text);
}

/** True when the request carries `Authorization: Bearer <token>` with exactly this token. */
function bearerMatches(req: IncomingMessage, token: Buffer): boolean {
  const header = req.headers.authorization;
  if (typeof header !== 'string' || !header.startsWith('Bearer ')) return false;
  const given = Buffer.from(header.slice('Bearer '.length));
  return given.length === token.length && timingSafeEqual(given, token);
}

/** GET /metrics on the gateway's listener: only with the configured bearer token. */
export function metricsRoute(
  metrics: GatewayMetrics,
  config: MetricsConfig,
  logger: Logger,
): RequestHandler {
  if (config.token === undefined) throw new Error('metrics on the gateway listener need a token');
  // Read once at start; a rotated token needs a restart, as the HMAC key does.
  const token = Buffer.from(readValue(config.token, 'telemetry.metrics.token').trim());
  return (req, res) => {
    if (!bearerMatches(req, token)) {
      res.status(401).set('WWW-Authenticate', 'Bearer realm="mcpgate metrics"').json({
        error: 'unauthorized',
        message:
          '/metrics needs the bearer token of telemetry.metrics.token (Prometheus: authorization.credentials_file)',
      });
      return;
    }
    answer(metrics, res).catch((err: unknown) => {
      logger.error('metrics could not be rendered', { error: (err as Error).message });
      if (!res.headersSent) res.status(500).json({ error: 'metrics_failed' });
    });
  };
}

/** /metrics on a listener of its own (telemetry.metrics.listen); resolves once it listens. */
export async function startMetricsListener(
  metrics: GatewayMetrics,
  listen: { host: string; port: number },
  logger: Logger,
): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const path = req.url?.split('?')[0];
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'application/json' }).end('{"error":"not found"}');
      return;
    }
    answer(metrics, res).catch((err: unknown) => {
      logger.error('metrics could not be rendered', { error: (err as Error).message });
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  return {
    url: `http://${host}:${port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
