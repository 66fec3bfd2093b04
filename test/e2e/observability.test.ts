// Observability with real parts: a real Prometheus (Debian's, its own config on a loopback
// port, the repository's alert rules loaded) scrapes the gateway's /metrics listener, and
// PromQL through its HTTP API sees the known traffic; every metric the Grafana dashboard
// and the alert rules query is in /metrics; promtool accepts the rules; a hung upstream
// (SIGSTOP) makes /readyz not ready naming it, and the gateway reports to an OPA-format
// status service (a loopback HTTP server here) with the bundle and plugin states.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { callTool, connectClient, textOf } from './support/client.js';
import { ROOT, startGatewayProcess, type GatewayProcess } from './support/gateway.js';
import { useAllowAll } from './support/allow-all.js';
import { labServer } from './support/policies.js';
import { freePort } from './support/ports.js';
import { findBinary } from '../support/binaries.js';
import { waitFor } from './support/wait.js';
import { exitProcess } from '../support/exit-process.js';

const run = promisify(execFile);
const DASHBOARD = join(ROOT, 'deploy/observability/grafana-dashboard.json');
const ALERTS = join(ROOT, 'deploy/observability/prometheus-alerts.yml');

/** Debian's prometheus package brings both programs (scripts/setup.sh --observability). */
function binary(name: 'prometheus' | 'promtool', variable: string): string {
  return findBinary(
    name,
    variable,
    'the observability test needs a real Prometheus; run scripts/setup.sh --observability ' +
      '(apt-get install prometheus)',
  );
}

/** Metric names a PromQL expression reads (histogram series reduced to the histogram's name). */
function metricNames(expr: string): string[] {
  // Label selectors and grouping clauses name labels (mcp_method_name), not metrics.
  const bare = expr
    .replace(/\{[^}]*\}/g, '')
    .replace(/\b(?:by|without|on|ignoring)\s*\([^)]*\)/g, '');
  const names = bare.match(/\b(?:mcp|mcpgate)_[a-z0-9_]+/g) ?? [];
  return names.map((n) => n.replace(/_(bucket|count|sum)$/, ''));
}

const allowAll = useAllowAll();

describe('metrics, readiness and status with real parts', () => {
  let gateway: GatewayProcess;
  let client: Client;
  let metricsUrl: string;
  let prometheus: ChildProcess | undefined;
  let prometheusUrl: string;
  let promDir: string;
  let statusServer: Server;
  const reports: Array<{ path: string; body: Record<string, unknown> }> = [];

  beforeAll(async () => {
    statusServer = createServer((req, res) => {
      let text = '';
      req.on('data', (c: Buffer) => (text += c.toString()));
      req.on('end', () => {
        reports.push({ path: req.url ?? '', body: JSON.parse(text) as Record<string, unknown> });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => statusServer.listen(0, '127.0.0.1', () => r()));
    const statusPort = (statusServer.address() as AddressInfo).port;

    gateway = await startGatewayProcess({
      ...allowAll,
      upstreams: {
        lab: { ...labServer(), health_check: { interval_s: 0.3, timeout_s: 0.5 } },
      },
      sessions: { rate_limits: { per_session: { limit: 4, window_s: 600 } } },
      extra: {
        telemetry: {
          metrics: { enabled: true, listen: { host: '127.0.0.1', port: 0 } },
          status: {
            url: `http://127.0.0.1:${statusPort}`,
            partition_name: 'e2e',
            interval_s: 1,
            allow_insecure_http: true,
          },
        },
      },
    });
    const listening = gateway.logs.find((l) => l.message === 'mcpgate listening');
    metricsUrl = String(listening?.metrics);
    client = await connectClient(
      gateway.mcpUrl,
      await allowAll.issuer.mint({ aud: gateway.mcpUrl }),
    );

    promDir = mkdtempSync(join(tmpdir(), 'mcpgate-prometheus-'));
    const promPort = await freePort();
    const target = new URL(metricsUrl).host;
    writeFileSync(
      join(promDir, 'prometheus.yml'),
      [
        'global:',
        '  scrape_interval: 1s',
        '  evaluation_interval: 1s',
        'rule_files:',
        `  - ${ALERTS}`,
        'scrape_configs:',
        '  - job_name: mcpgate',
        '    static_configs:',
        `      - targets: ['${target}']`,
        '',
      ].join('\n'),
    );
    prometheusUrl = `http://127.0.0.1:${promPort}`;
    prometheus = spawn(
      binary('prometheus', 'PROMETHEUS'),
      [
        `--config.file=${join(promDir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(promDir, 'data')}`,
        `--web.listen-address=127.0.0.1:${promPort}`,
      ],
      { stdio: 'ignore' },
    );
    await waitFor(
      async () => ((await fetch(`${prometheusUrl}/-/ready`)).ok ? true : undefined),
      'Prometheus to be ready',
    );
  });

  afterAll(async () => {
    await client?.close();
    await gateway?.stop();
    if (prometheus) await exitProcess(prometheus, 'SIGTERM');
    if (promDir) rmSync(promDir, { recursive: true, force: true });
    await new Promise<void>((r) => statusServer?.close(() => r()));
  });

  async function promQuery(query: string): Promise<number | undefined> {
    const res = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(query)}`);
    const body = (await res.json()) as {
      data: { result: Array<{ value: [number, string] }> };
    };
    const first = body.data.result[0];
    return first === undefined ? undefined : Number(first.value[1]);
  }

  it('Prometheus scrapes the gateway and PromQL sees the known traffic', async () => {
    // Four calls within the per-session limit, then two denied by it.
    for (let i = 0; i < 6; i++) await callTool(client, 'lab__echo', { text: `m${i}` });
    const calls = await waitFor(async () => {
      const value = await promQuery(
        'sum(mcp_server_operation_duration_seconds_count{mcp_method_name="tools/call"})',
      );
      return value === 6 ? value : undefined;
    }, 'Prometheus to see six tools/call');
    expect(calls).toBe(6);
    expect(
      await promQuery(
        'sum(mcp_server_operation_duration_seconds_count{mcp_method_name="tools/call",outcome="ok",upstream="lab"})',
      ),
    ).toBe(4);
    expect(
      await promQuery(
        'sum(mcpgate_denials_total{mcp_method_name="tools/call",reason_code="rate_limited"})',
      ),
    ).toBe(2);
    expect(
      await promQuery(
        'sum(mcpgate_decisions_total{path="mcp/authz/decision",result="allow",purpose="code-review"})',
      ),
    ).toBeGreaterThanOrEqual(5); // the session/open and four calls
    expect(
      await promQuery(
        'sum(mcp_client_operation_duration_seconds_count{upstream="lab",outcome="ok"})',
      ),
    ).toBe(4);
    expect(await promQuery('mcpgate_upstream_up{upstream="lab"}')).toBe(1);
    expect(await promQuery('mcpgate_sessions_open')).toBe(1);
    expect(await promQuery('count(mcpgate_bundle_info)')).toBe(1);
    // Nothing is pinned in this bundle: every tool of the catalog is pending; none is held.
    const tools = (await client.listTools()).tools.length;
    expect(tools).toBeGreaterThan(0);
    expect(await promQuery('mcpgate_tools{state="pending"}')).toBe(tools);
    expect(await promQuery('mcpgate_tools{state="pinned"}')).toBe(0);
    expect(await promQuery('mcpgate_approvals_pending')).toBe(0);
    // Four allowed calls recorded once each; a rate-limited one twice (refused, then as a denial).
    expect(
      await promQuery('sum(mcpgate_session_store_duration_seconds_count{operation="record"})'),
    ).toBe(8);

    // The rules file loads in Prometheus itself.
    const rules = (await (await fetch(`${prometheusUrl}/api/v1/rules`)).json()) as {
      data: { groups: Array<{ rules: Array<{ name: string; health: string }> }> };
    };
    const loaded = rules.data.groups.flatMap((g) => g.rules);
    expect(loaded.map((r) => r.name)).toEqual(
      expect.arrayContaining([
        'McpgateToolQuarantined',
        'McpgateUpstreamDown',
        'McpgateDenialSpike',
      ]),
    );
    expect(loaded.every((r) => r.health !== 'err')).toBe(true);
  });

  it('exports every metric the dashboard and the alert rules query, and promtool accepts the rules', async () => {
    const exposition = await (await fetch(metricsUrl)).text();
    const exported = new Set([...exposition.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
      panels: Array<{ targets?: Array<{ expr: string }> }>;
    };
    const queried = new Set(
      dashboard.panels.flatMap((p) => (p.targets ?? []).flatMap((t) => metricNames(t.expr))),
    );
    for (const match of readFileSync(ALERTS, 'utf8').matchAll(
      /expr: ([^\n]+(?:\n {10,}[^\n]+)*)/g,
    )) {
      for (const name of metricNames(match[1]!)) queried.add(name);
    }
    expect(queried.size).toBeGreaterThan(15);
    const missing = [...queried].filter((name) => !exported.has(name));
    expect(missing).toEqual([]);

    const { stdout } = await run(binary('promtool', 'PROMTOOL'), ['check', 'rules', ALERTS]);
    expect(stdout).toMatch(/SUCCESS: \d+ rules found/);
  });

  it('reports OPA-format status to the status service', async () => {
    const report = await waitFor(
      () => Promise.resolve(reports.find((r) => r.path === '/status/e2e')),
      'a status report',
    );
    const body = report.body as {
      labels: Record<string, string>;
      bundles: Record<string, { active_revision?: string; last_successful_activation?: string }>;
      plugins: Record<string, { state: string }>;
      decision_logs: { metrics: Record<string, number> };
    };
    expect(body.labels).toMatchObject({ id: 'e2e', type: 'mcpgate' });
    expect(body.labels.version).toMatch(/\d/);
    expect(body.bundles.mcpgate?.active_revision).toEqual(expect.any(String));
    expect(Date.parse(body.bundles.mcpgate?.last_successful_activation ?? '')).toBeGreaterThan(0);
    expect(body.plugins).toMatchObject({
      bundle: { state: 'OK' },
      decision_logs: { state: 'OK' },
      status: { state: 'OK' },
    });
    expect(body.decision_logs.metrics).toHaveProperty('counter_decision_logs_refused');
  });

  it('a hung upstream (SIGSTOP) makes /readyz not ready, naming it and why; SIGCONT brings it back', async () => {
    // The first client is over its per-session rate limit: a fresh session asks the upstream.
    const fresh = await connectClient(
      gateway.mcpUrl,
      await allowAll.issuer.mint({ aud: gateway.mcpUrl }),
    );
    const answer = textOf(await callTool(fresh, 'lab__echo', { text: 'pid' }));
    await fresh.close();
    const childPid = Number(answer.split('pid=')[1]);
    expect(childPid).toBeGreaterThan(0);
    process.kill(childPid, 'SIGSTOP');
    try {
      const notReady = await waitFor(
        async () => {
          const res = await fetch(`${gateway.url}/readyz`);
          if (res.status !== 503) return undefined;
          return (await res.json()) as {
            ready: boolean;
            not_ready: Array<{ part: string; reason: string }>;
          };
        },
        '/readyz to report the hung upstream',
        15_000,
      );
      expect(notReady.ready).toBe(false);
      expect(notReady.not_ready).toEqual([
        { part: 'upstream lab', reason: 'upstream lab did not answer ping within 0.5 s' },
      ]);
      // Prometheus sees it too, and the status service is told.
      await waitFor(
        async () =>
          (await promQuery('mcpgate_upstream_up{upstream="lab"}')) === 0 ? true : undefined,
        'Prometheus to see the upstream down',
      );
      await waitFor(
        () =>
          Promise.resolve(
            reports.some(
              (r) =>
                (r.body.plugins as Record<string, { state: string }>).mcpgate_upstreams?.state ===
                'NOT_READY',
            )
              ? true
              : undefined,
          ),
        'a status report naming the upstream not ready',
      );
    } finally {
      process.kill(childPid, 'SIGCONT');
    }
    await waitFor(
      async () => ((await fetch(`${gateway.url}/readyz`)).status === 200 ? true : undefined),
      '/readyz to be ready again',
      15_000,
    );
  });
});
