// The telemetry measurements' OTLP side: a trace receiver on loopback that accepts every
// export, counts it and discards it (so what is measured is the gateway's side of tracing),
// and the telemetry section of a gateway config that traces into it. Used by bench/run.mjs
// (telemetry and fullpath sections) and bench/tools/telemetry-cost.mjs.
import { createServer } from 'node:http';

/** An OTLP/HTTP trace sink on loopback that accepts every export and discards it. */
export async function startOtlpSink() {
  let exports = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      exports++;
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${server.address().port}/v1/traces`,
    exports: () => exports,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/** Metrics on a loopback listener and tracing at `ratio`, exported to `endpoint`. */
export function telemetryOn(endpoint, ratio) {
  return {
    metrics: { enabled: true, listen: { host: '127.0.0.1', port: 0 } },
    tracing: {
      enabled: true,
      endpoint,
      allow_insecure_http: true,
      sample_ratio: ratio,
      max_queue_spans: 65536,
    },
  };
}
