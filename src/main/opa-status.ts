// The gateway's status in the shape of OPA's status API document, for an OPA control plane
// that already watches a fleet of OPAs: `labels`, `bundles.<name>` with the active revision,
// activation time and errors, `decision_logs`, and `plugins.<name>.state` (OK, NOT_READY,
// ERROR). The gateway's own parts (upstreams, session store) are reported as plugins named
// `mcpgate_…`. docs/observability.md#opa-status-api describes each field.
import type { DecisionLog } from '../audit/decision-log.js';
import type { PolicyHolder } from '../policy/holder.js';
import type { PolicyStatus } from '../policy/sources/manager.js';
import type { SessionStore } from '../sessions/store.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';
import type { StatusSource } from '../telemetry/status-reporter.js';
import type { UpstreamRegistry } from '../upstreams/registry.js';

/** The bundle's name in the status document, as in the decision log's `bundles`. */
const BUNDLE_NAME = 'mcpgate';

type PluginState = 'OK' | 'NOT_READY' | 'ERROR';

interface PluginStatus {
  state: PluginState;
  message?: string;
}

export interface StatusParts {
  labels: { id: string; version: string; instance_id: string };
  policy: PolicyHolder;
  policyStatus: () => PolicyStatus;
  decisionLog: DecisionLog;
  registry: UpstreamRegistry;
  store: SessionStore;
  /** With telemetry.status.prometheus: the metrics, as OPA adds them. */
  metrics: GatewayMetrics | undefined;
}

function plugins(parts: StatusParts): Record<string, PluginStatus> {
  const bundle: PluginStatus = parts.policy.current()
    ? { state: 'OK' }
    : { state: 'NOT_READY', message: 'no policy is loaded' };
  const writers = parts.decisionLog.stats().writers.filter((w) => w.error !== null || w.refusing);
  const refusal = parts.decisionLog.refusal();
  const decisionLogs: PluginStatus =
    refusal !== undefined
      ? { state: 'ERROR', message: refusal }
      : writers.length > 0
        ? { state: 'ERROR', message: writers.map((w) => `${w.destination}: ${w.error}`).join('; ') }
        : { state: 'OK' };
  const notReady = parts.registry.notReady();
  const upstreams: PluginStatus =
    notReady.length === 0
      ? { state: 'OK' }
      : {
          state: 'NOT_READY',
          message: notReady.map((n) => `${n.upstream}: ${n.reason}`).join('; '),
        };
  const health = parts.store.health();
  const store: PluginStatus = health.ok
    ? { state: 'OK' }
    : { state: 'ERROR', message: health.error ?? `${health.backend} store unavailable` };
  return {
    bundle,
    decision_logs: decisionLogs,
    status: { state: 'OK' },
    mcpgate_upstreams: upstreams,
    mcpgate_session_store: store,
  };
}

function bundleStatus(parts: StatusParts): Record<string, unknown> {
  const status = parts.policyStatus();
  const entry: Record<string, unknown> = { name: BUNDLE_NAME };
  if (status.revision !== undefined) entry.active_revision = status.revision;
  if (status.loaded_at !== undefined) {
    entry.last_successful_activation = status.loaded_at;
    entry.last_successful_download = status.loaded_at;
  }
  if (status.last_refusal !== undefined) {
    entry.code = 'bundle_error';
    entry.message = status.last_refusal;
    entry.errors = [status.last_refusal];
    if (status.last_refusal_at !== undefined) entry.last_request = status.last_refusal_at;
  }
  entry.metrics = {
    counter_bundle_installs: status.installs,
    counter_bundle_refusals: status.refusals,
  };
  return entry;
}

export function opaStatusSource(parts: StatusParts): StatusSource {
  return {
    fingerprint() {
      const status = parts.policyStatus();
      const states = Object.entries(plugins(parts)).map(
        ([name, p]) => `${name}=${p.state}:${p.message ?? ''}`,
      );
      return [status.revision, status.loaded_at, status.refusals, ...states].join('|');
    },
    async build() {
      const stats = parts.decisionLog.stats();
      const document: Record<string, unknown> = {
        labels: { ...parts.labels, type: 'mcpgate' },
        bundles: { [BUNDLE_NAME]: bundleStatus(parts) },
        decision_logs: {
          ...(parts.decisionLog.refusal() !== undefined
            ? { code: 'decision_log_error', message: parts.decisionLog.refusal() }
            : {}),
          metrics: {
            counter_decision_logs_sent: stats.sent,
            counter_decision_logs_dropped: stats.dropped_buffer,
            counter_decision_logs_dropped_by_policy: stats.dropped_policy,
            counter_decision_logs_refused: stats.refused,
            counter_decision_logs_failed_attempts: stats.failed_attempts,
            gauge_decision_logs_buffered_events: stats.buffered,
            gauge_decision_logs_buffered_bytes: stats.writers.reduce(
              (sum, w) => sum + w.buffered_bytes,
              0,
            ),
          },
        },
        plugins: plugins(parts),
      };
      if (parts.metrics !== undefined) {
        document.metrics = { prometheus: await parts.metrics.registry.getMetricsAsJSON() };
      }
      return document;
    },
  };
}
