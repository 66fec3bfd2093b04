// /metrics on the gateway listener answers only with the configured bearer token (a real
// HTTP server around the route); on a listener of its own it serves /metrics and nothing else.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { metricsRoute, startMetricsListener } from '../../src/main/telemetry.js';
import { GatewayMetrics } from '../../src/telemetry/metrics.js';
import { silentLogger } from '../../src/util/logger.js';

const TOKEN_VARIABLE = 'MCPGATE_TEST_METRICS_TOKEN';

describe('/metrics', () => {
  const metrics = new GatewayMetrics({ processMetrics: false });
  let server: Server;
  let base: string;
  let own: { url: string; close(): Promise<void> };

  beforeAll(async () => {
    process.env[TOKEN_VARIABLE] = 'scrape-secret';
    const app = express();
    app.get(
      '/metrics',
      metricsRoute(
        metrics,
        {
          enabled: true,
          listen: undefined,
          token: { kind: 'env', name: TOKEN_VARIABLE },
          processMetrics: false,
        },
        silentLogger,
      ),
    );
    server = createServer(app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    own = await startMetricsListener(metrics, { host: '127.0.0.1', port: 0 }, silentLogger);
  });

  afterAll(async () => {
    delete process.env[TOKEN_VARIABLE];
    await new Promise<void>((r) => server.close(() => r()));
    await own.close();
  });

  it('on the gateway listener: 401 without the token or with another, the metrics with it', async () => {
    const none = await fetch(`${base}/metrics`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toContain('Bearer');
    expect(((await none.json()) as { message: string }).message).toContain(
      'telemetry.metrics.token',
    );
    const wrong = await fetch(`${base}/metrics`, {
      headers: { Authorization: 'Bearer scrape-secreT' },
    });
    expect(wrong.status).toBe(401);
    const right = await fetch(`${base}/metrics`, {
      headers: { Authorization: 'Bearer scrape-secret' },
    });
    expect(right.status).toBe(200);
    expect(right.headers.get('content-type')).toContain('text/plain');
    expect(await right.text()).toContain('# TYPE mcp_server_operation_duration_seconds histogram');
  });

  it('on its own listener: /metrics only', async () => {
    const res = await fetch(own.url);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('# TYPE mcpgate_sessions_open gauge');
    expect((await fetch(own.url.replace('/metrics', '/readyz'))).status).toBe(404);
  });
});
