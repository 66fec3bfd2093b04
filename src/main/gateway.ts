// Assembles a running gateway from a configuration: policy, upstreams, identity, sessions,
// pipeline and the HTTP server. `startGateway` is what `mcpgate start` and the tests call.
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Router } from 'express';
import { authorizationServers } from '../config/auth.js';
import type { GatewayConfig } from '../config/load.js';
import { TokenVerifier } from '../identity/verifier.js';
import {
  createDecisionLog,
  DecisionLogNotFlushedError,
  hmacKeyFrom,
} from '../audit/decision-log.js';
import { auditBackpressure, guardAdmin } from '../http/guards/audit-backpressure.js';
import { parseBundle } from '../policy/bundle/read.js';
import { PolicyHolder } from '../policy/holder.js';
import { PolicyManager } from '../policy/sources/manager.js';
import { Pipeline, type PipelineDeps } from '../pipeline/chains.js';
import { clientErrorHandler } from '../http/client-errors.js';
import { Drain } from '../http/drain.js';
import { requestListener } from '../http/listener.js';
import { adminRouter } from '../http/admin.js';
import { doctorRouter } from '../http/doctor.js';
import { ConsoleAuth } from '../http/console/auth.js';
import { consoleRouter } from '../http/console/router.js';
import { bearerAuth } from '../http/guards/bearer-auth.js';
import { HostAllowList } from '../http/guards/host.js';
import { mcpHandler } from '../http/mcp-endpoint.js';
import { ClientRequests } from '../mcp/server/client-requests.js';
import { TransportCounters } from '../mcp/server/http-transport.js';
import { UpstreamMessages } from '../pipeline/upstream-messages.js';
import { SessionManager } from '../http/live-sessions.js';
import { RunKeys } from '../http/run-sessions.js';
import { RequestStates } from '../mcp/server/request-state.js';
import { readValue } from '../config/secrets.js';
import { UpstreamRegistry } from '../upstreams/registry.js';
import { TrustWatch } from './trust-watch.js';
import { createStore } from '../sessions/create-store.js';
import { MemoryStore } from '../sessions/memory-store.js';
import { CredentialBroker } from '../credentials/broker.js';
import { TimedStore } from '../sessions/timed-store.js';
import { GatewayMetrics } from '../telemetry/metrics.js';
import { StatusReporter } from '../telemetry/status-reporter.js';
import { Tracing } from '../telemetry/tracing.js';
import type { Logger } from '../util/logger.js';
import { GATEWAY_VERSION } from '../util/version.js';
import { opaStatusSource } from './opa-status.js';
import { stageTimingsFromEnv } from './stage-timings.js';
import {
  metricsRoute,
  observeGatewayState,
  startMetricsListener,
  storeObserver,
} from './telemetry.js';

export interface RunningGateway {
  /** Base URL, e.g. http://127.0.0.1:8080 */
  url: string;
  /** The MCP endpoint and canonical resource URI (token audience). */
  resource: string;
  policy: PolicyHolder;
  registry: UpstreamRegistry;
  sessions: SessionManager;
  /**
   * Stops taking requests (503), waits for those in progress (gateway.drain_timeout_s),
   * then closes everything and flushes the decision log. Rejects with
   * DecisionLogNotFlushedError, naming the spool file, when lines could not be written.
   */
  close(): Promise<void>;
}

/**
 * The protected resource metadata of /mcp (RFC 9728, the path-specific form), which every
 * WWW-Authenticate challenge names: the edge's 401s and the step_up obligation's answer.
 */
function resourceMetadataUrl(baseUrl: string): string {
  return `${baseUrl}/.well-known/oauth-protected-resource/mcp`;
}

/** The pipeline's parts as startGateway wires them (the chains depend on nothing else). */
function assemblePipeline(
  config: GatewayConfig,
  logger: Logger,
  parts: Pick<
    PipelineDeps,
    | 'policy'
    | 'registry'
    | 'store'
    | 'decisionLog'
    | 'broker'
    | 'terminate'
    | 'notify'
    | 'requestStates'
    | 'consoleUrl'
    | 'resourceMetadataUrl'
    | 'telemetry'
    | 'timer'
  >,
): Pipeline {
  return new Pipeline({
    ...parts,
    limits: config.sessions,
    approvals: config.approvals,
    alerts: config.alerts,
    guardrails: config.guardrails,
    logger,
    gateway: { id: config.gateway.id, version: GATEWAY_VERSION },
  });
}

/**
 * `mcpgate start --explain`: every request chain this configuration runs, in order, without
 * starting anything (no listener, no upstream, no store connection, no decision log).
 */
export function explainGateway(config: GatewayConfig, logger: Logger): string {
  const broker = new CredentialBroker(config.gateway.id, logger);
  const pipeline = assemblePipeline(config, logger, {
    policy: new PolicyHolder(),
    registry: new UpstreamRegistry(config.upstreams, logger, broker, config.toolTrust),
    store: new MemoryStore(),
    decisionLog: createDecisionLog([], { id: config.gateway.id, version: GATEWAY_VERSION }),
    broker,
    terminate: () => undefined,
    consoleUrl: () => config.approvals.consoleUrl ?? '/console',
    resourceMetadataUrl: () => resourceMetadataUrl(''),
    notify: () => Promise.resolve(),
    // The observe stages are in the chains when metrics or tracing are on (no exporter is
    // started to show them).
    telemetry:
      config.telemetry.metrics.enabled || config.telemetry.tracing.enabled
        ? { metrics: new GatewayMetrics({ processMetrics: false }) }
        : undefined,
  });
  return pipeline.explain();
}

export async function startGateway(config: GatewayConfig, logger: Logger): Promise<RunningGateway> {
  // Before anything starts: a run key that is too short stops the start-up here.
  const runKeys = new RunKeys(
    config.sessions.runKey && readValue(config.sessions.runKey, 'sessions.run_key'),
    config.sessions.store.type !== 'memory',
  );
  if (!runKeys.usable) {
    logger.warn(
      'sessions.run_key is not set and sessions are shared (Redis): MCP 2026-07-28 requests are refused until it is (docs/sessions-2026.md)',
    );
  }
  const policy = new PolicyHolder();
  const policyManager = new PolicyManager(
    config.policy,
    policy,
    (bytes, origin) =>
      parseBundle(bytes, {
        maxBytes: config.policy.maxBundleBytes,
        signing: config.policy.signing,
        source: origin,
      }),
    logger,
  );
  await policyManager.start();
  if (!policy.current()) {
    logger.error('no policy loaded: every request is denied until one is', { error: policy.error });
  }

  const broker = new CredentialBroker(config.gateway.id, logger);
  const registry = new UpstreamRegistry(
    config.upstreams,
    logger,
    broker,
    config.toolTrust,
    () => policy.current()?.upstreamRegistry,
  );
  // A new policy may bring another upstream registry: connected upstreams are checked again.
  if (config.toolTrust.registry === 'enforce')
    policy.onInstalled(() => registry.recheckIdentities());
  await registry.start();
  // Items that differ from their pins, or carry unacknowledged findings, are said in the log.
  const trustWatch = new TrustWatch(logger);
  const checkTrust = (): void => trustWatch.check(policy.current(), registry.catalog);
  registry.on('catalogChanged', checkTrust);
  policy.onInstalled(checkTrust);
  checkTrust();

  const decisionLog = createDecisionLog(
    config.audit.destinations,
    { id: config.gateway.id, version: GATEWAY_VERSION },
    {
      logger,
      hmacKey: config.audit.hmacKey && hmacKeyFrom(config.audit.hmacKey),
      spoolDir: config.audit.spoolDir,
    },
  );
  // Telemetry: metrics and traces are off unless configured (docs/observability.md).
  const instanceId = randomUUID();
  const telemetryConfig = config.telemetry;
  const metrics = telemetryConfig.metrics.enabled
    ? new GatewayMetrics({ processMetrics: telemetryConfig.metrics.processMetrics })
    : undefined;
  const tracing = telemetryConfig.tracing.enabled
    ? new Tracing(
        telemetryConfig.tracing,
        {
          name: telemetryConfig.tracing.serviceName ?? config.gateway.id,
          version: GATEWAY_VERSION,
          instance: instanceId,
        },
        metrics && {
          exported: (result, spans) => metrics.counters.traceSpansExported.inc({ result }, spans),
        },
      )
    : undefined;
  const rawStore = await createStore(config.sessions.store, logger);
  const store = metrics ? new TimedStore(rawStore, storeObserver(metrics)) : rawStore;
  const sessions = new SessionManager(
    { maxSessions: config.sessions.maxSessions, idleTimeoutMs: config.sessions.idleTimeoutMs },
    registry,
    store,
    logger,
  );
  // Terminations on any replica: an exchange still under way for the session is not kept.
  store.onTerminated((id) => broker.sessionEnded(id));
  // Filled in once the listening address (and so the resource URI) is known.
  let baseUrl = '';
  const stageTimings = stageTimingsFromEnv();
  const pipeline = assemblePipeline(config, logger, {
    ...(stageTimings ? { timer: stageTimings.timer } : {}),
    consoleUrl: () => config.approvals.consoleUrl ?? `${baseUrl}/console`,
    resourceMetadataUrl: () => resourceMetadataUrl(baseUrl),
    policy,
    registry,
    store,
    decisionLog,
    broker,
    requestStates: new RequestStates(runKeys.derive('mcpgate requestState')),
    telemetry: metrics || tracing ? { metrics, tracing } : undefined,
    terminate: (id, reason) =>
      setImmediate(() => {
        sessions.terminate(id, reason).catch((err: unknown) => {
          logger.error('terminate_session could not end the session in the store', {
            session: id.slice(0, 8),
            error: err instanceof Error ? err.message : String(err),
          });
        });
      }),
    notify: (id, notification) => sessions.notify(id, notification),
  });
  // A session that ends here lets go of its resource subscriptions and tasks.
  sessions.onEnded((id) => pipeline.releaseSession(id));
  logger.debug('request chains', { chains: pipeline.explain() });
  if (metrics) {
    observeGatewayState(metrics, {
      sessions,
      registry,
      decisionLog,
      policy,
      policyStatus: () => policyManager.status(),
      toolTrust: () => pipeline.toolTrust(),
      approvals: pipeline.approvals,
    });
  }
  // URL-mode clients hear that the approval they were sent to has been decided.
  store.approvals.onSettled((id, state) => {
    if (state === 'pending' || state === 'used') return;
    void store.approvals.get(id).then(
      (record) => record && sessions.approvalSettled(record.sessionId, id),
      () => undefined,
    );
  });

  // What upstreams ask of clients and log, routed to the session it is for (its chains
  // decide the requests), and the gateway's own questions (elicitation for approvals); the
  // clients' answers come back through ClientRequests.
  const clientRequests = new ClientRequests();
  const upstreamMessages = new UpstreamMessages(
    (ctx) => pipeline.run(ctx),
    sessions,
    pipeline.elicitations,
    policy,
    logger,
  );
  registry.peer = upstreamMessages;
  sessions.onEnded((id) => {
    clientRequests.endSession(id, 'the session ended');
    upstreamMessages.sessionEnded(id);
  });

  const identity: { verifier?: TokenVerifier } = {};
  const resource = (): string => `${baseUrl}/mcp`;

  const authOptions = {
    verifier: () => identity.verifier,
    resourceMetadataUrl: () => resourceMetadataUrl(baseUrl),
    logger,
  };
  // Requests that would be decided are refused while the decision log cannot keep up.
  const admin = Router();
  admin.use('/admin', guardAdmin(decisionLog));
  admin.use(
    adminRouter({
      // Admin tokens need no MCP scope: the policy decides who is an operator.
      authenticate: bearerAuth({ ...authOptions, requiredScopes: [] }),
      gateway: { id: config.gateway.id, version: GATEWAY_VERSION },
      pipeline,
      store,
      sessions,
      historyLimit: config.sessions.historyLimit,
      logger,
    }),
  );
  admin.use(
    doctorRouter({
      // Without the MCP scopes: a token lacking them is told so, not refused.
      authenticate: bearerAuth({ ...authOptions, requiredScopes: [] }),
      policy,
      gateway: { id: config.gateway.id, version: GATEWAY_VERSION },
      defaultPurpose: config.sessions.defaultPurpose,
      requiredScopes: config.auth.requiredScopes,
      logger,
    }),
  );
  if (config.console.enabled) {
    admin.use(
      consoleRouter({
        auth: new ConsoleAuth({
          config: config.console,
          baseUrl: () => baseUrl,
          resource,
          verifier: () => identity.verifier,
          logger,
        }),
        pipeline,
        store,
        sessions,
        decisionLog,
        gateway: { id: config.gateway.id, version: GATEWAY_VERSION },
        historyLimit: config.sessions.historyLimit,
        baseUrl: () => baseUrl,
        logger,
      }),
    );
  }
  const transportCounters = new TransportCounters();
  /** What keeps the gateway from being ready, each part with why (/readyz `not_ready`). */
  const notReadyParts = (): Array<{ part: string; reason: string }> => {
    const parts: Array<{ part: string; reason: string }> = [];
    if (drain.stopping) parts.push({ part: 'gateway', reason: 'shutting down' });
    if (!policy.current()) {
      parts.push({
        part: 'policy',
        reason: policy.error ?? 'no policy is loaded yet',
      });
    }
    for (const upstream of registry.notReady()) {
      parts.push({ part: `upstream ${upstream.upstream}`, reason: upstream.reason });
    }
    if (identity.verifier?.isReady() !== true) {
      parts.push({ part: 'issuers', reason: "the token issuers' keys are not loaded yet" });
    }
    const storeHealth = store.health();
    if (!storeHealth.ok) {
      parts.push({
        part: 'session store',
        reason: storeHealth.error ?? `the ${storeHealth.backend} store is unavailable`,
      });
    }
    if (!decisionLog.healthy()) {
      const failing = decisionLog
        .stats()
        .writers.filter((w) => w.error !== null || w.refusing)
        .map((w) => `${w.destination}: ${w.error ?? 'max_buffer_bytes waiting'}`);
      parts.push({
        part: 'decision log',
        reason: decisionLog.refusal() ?? (failing.join('; ') || 'a destination cannot keep up'),
      });
    }
    return parts;
  };
  // At shutdown: new requests refused, those in progress waited for.
  const drain = new Drain();
  // Completed with the listen port once it is bound (port 0 picks one).
  const allowedHosts = new HostAllowList({
    publicUrl: config.gateway.publicUrl,
    listenHost: config.gateway.host,
    allowedHosts: config.gateway.allowedHosts,
  });
  const listener = requestListener({
    logger,
    admin,
    maxBodyBytes: config.gateway.maxBodyBytes,
    maxJsonDepth: config.gateway.maxJsonDepth,
    allowedHosts,
    allowedOrigins: config.gateway.allowedOrigins,
    authenticate: bearerAuth({ ...authOptions, requiredScopes: config.auth.requiredScopes }),
    auditGuard: auditBackpressure(decisionLog),
    mcp: mcpHandler({
      sessions,
      store,
      pipeline,
      config: config.sessions,
      logger,
      counters: transportCounters,
      clientRequests,
      setLogLevel: (id, level) => upstreamMessages.setLogLevel(id, level),
      runKeys,
      replica: `${config.gateway.id}.${randomBytes(6).toString('base64url')}`,
      // A held call waits on its upstream, so a relayed retry may take as long as the
      // slowest upstream's timeout (the holder fails the call at that time itself).
      relayTimeoutMs: Math.max(60_000, ...config.upstreams.map((u) => u.timeoutMs)) + 5_000,
    }),
    timeArrivals: tracing !== undefined,
    metrics:
      metrics && !telemetryConfig.metrics.listen
        ? metricsRoute(metrics, telemetryConfig.metrics, logger)
        : undefined,
    readiness: () => {
      const engine = policy.current();
      const upstreams = registry.status();
      const notReady = notReadyParts();
      return {
        ready: notReady.length === 0,
        detail: {
          not_ready: notReady,
          policy: { loaded: engine !== undefined, ...policyManager.status() },
          issuers: identity.verifier?.status() ?? [],
          decision_log: decisionLog.stats(),
          upstreams,
          sessions: { live_here: sessions.size, store: store.health() },
          // What bounded queues refused or dropped since the start (docs/security.md).
          intake: {
            requests_refused_in_flight: transportCounters.refusedInFlight,
            notifications_dropped: transportCounters.droppedNotifications,
          },
          // What upstreams sent of their own accord: log messages relayed and dropped (by
          // reason), and the gateway's questions to clients still waiting for an answer.
          upstream_notifications: {
            relayed: upstreamMessages.counters.relayed,
            dropped: { ...upstreamMessages.counters.dropped },
          },
          client_requests_waiting: clientRequests.size,
          ...(drain.stopping
            ? { shutting_down: { requests_in_progress: drain.requestsInProgress } }
            : {}),
        },
      };
    },
    protectedResource: () => ({
      resource: resource(),
      authorization_servers: config.auth.issuers.flatMap(authorizationServers),
      scopes_supported: config.auth.scopesSupported,
      bearer_methods_supported: ['header'],
      resource_name: `mcpgate ${config.gateway.id}`,
    }),
  });

  // Headers up to 256 KiB reach the app, so an oversized token gets a proper 401 from the
  // verifier instead of Node's bare 431. Slow clients are cut off: headers, then the whole
  // request with its body, must arrive in time (408); a response may take as long as it
  // needs (a tool call, an event stream). Node checks the two timeouts every
  // connectionsCheckingInterval, so that is kept well under them.
  const { headerTimeoutMs, requestTimeoutMs, keepAliveTimeoutMs } = config.gateway;
  const http: HttpServer = createServer(
    {
      maxHeaderSize: 256 * 1024,
      headersTimeout: headerTimeoutMs,
      requestTimeout: requestTimeoutMs,
      keepAliveTimeout: keepAliveTimeoutMs,
      connectionsCheckingInterval: Math.max(100, Math.min(1000, headerTimeoutMs / 4)),
    },
    drain.listener(listener),
  );
  http.on('clientError', clientErrorHandler(logger));
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(config.gateway.port, config.gateway.host, () => resolve());
  });
  // The configured host name (not the resolved address), so the resource URI matches what
  // clients derive from the same config.
  const address = http.address() as AddressInfo;
  allowedHosts.listening(address.port);
  const host = config.gateway.host.includes(':') ? `[${config.gateway.host}]` : config.gateway.host;
  baseUrl = config.gateway.publicUrl ?? `http://${host}:${address.port}`;

  const tokenVerifier = new TokenVerifier(
    config.auth.issuers,
    resource(),
    config.auth.clockToleranceS,
    logger,
    config.auth.maxTokenLifetimeS,
  );
  identity.verifier = tokenVerifier;
  void tokenVerifier.warmUp();
  const metricsListener =
    metrics && telemetryConfig.metrics.listen
      ? await startMetricsListener(metrics, telemetryConfig.metrics.listen, logger)
      : undefined;
  const statusReporter =
    telemetryConfig.status &&
    new StatusReporter(
      telemetryConfig.status,
      opaStatusSource({
        labels: { id: config.gateway.id, version: GATEWAY_VERSION, instance_id: instanceId },
        policy,
        policyStatus: () => policyManager.status(),
        decisionLog,
        registry,
        store,
        metrics: telemetryConfig.status.prometheus ? metrics : undefined,
      }),
      logger,
      metrics && ((result) => metrics.counters.statusReports.inc({ result })),
    );
  statusReporter?.start();
  logger.info('mcpgate listening', {
    url: baseUrl,
    listen: `http://${host}:${address.port}`,
    resource: resource(),
    hosts: allowedHosts.describe(),
    upstreams: registry.status().length,
    ...(metrics
      ? { metrics: metricsListener?.url ?? `${baseUrl}/metrics (bearer token required)` }
      : {}),
    ...(tracing ? { tracing: telemetryConfig.tracing.endpoint } : {}),
  });

  let closing: Promise<void> | undefined;
  const shutdown = async (): Promise<void> => {
    // New requests get 503 from now on; those in progress may finish (and be recorded).
    drain.stop();
    http.closeIdleConnections();
    const drained = await drain.drained(config.gateway.drainTimeoutMs);
    if (drained.unfinished > 0) {
      logger.warn('requests still in progress at the end of the drain are cut off', {
        requests: drained.unfinished,
        drain_timeout_ms: config.gateway.drainTimeoutMs,
      });
    }
    await sessions.closeAll();
    if (stageTimings) {
      try {
        stageTimings.write();
      } catch (err) {
        logger.warn('stage timings could not be written (MCPGATE_STAGE_TIMINGS)', {
          error: (err as Error).message,
        });
      }
    }
    http.closeAllConnections();
    await new Promise<void>((resolve) => http.close(() => resolve()));
    tokenVerifier.stop();
    policyManager.stop();
    statusReporter?.stop();
    await metricsListener?.close();
    // The spans of the last requests go out before the exit (bounded by the export timeout).
    await tracing?.close().catch((err: unknown) => {
      logger.warn('the last spans could not be exported', { error: (err as Error).message });
    });
    await registry.close();
    await store.close();
    const flushed = await decisionLog.close();
    if (flushed.spooled.length > 0 || flushed.unsaved.length > 0) {
      throw new DecisionLogNotFlushedError(flushed);
    }
  };
  return {
    url: baseUrl,
    resource: resource(),
    policy,
    registry,
    sessions,
    close() {
      closing ??= shutdown();
      return closing;
    },
  };
}
