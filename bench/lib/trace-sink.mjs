// An OTLP/HTTP receiver for the telemetry measurements: accepts every export on loopback,
// counts it and discards it, so what is measured is the gateway's side of tracing. And the
// telemetry section of a gateway config that traces into it (metrics on their own listener).
import { createServer } from 'node:http';

export async function startTraceSink() {
  let exports = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      exports++;
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${server.address().port}/v1/traces`;
  return {
    endpoint,
    /** Export requests received so far. */
    get exports() {
      return exports;
    },
    /** A gateway's `telemetry:` with metrics on and tracing at `ratio` into this sink. */
    telemetry: (ratio) => ({
      metrics: { enabled: true, listen: { host: '127.0.0.1', port: 0 } },
      tracing: {
        enabled: true,
        endpoint,
        allow_insecure_http: true,
        sample_ratio: ratio,
        max_queue_spans: 65536,
      },
    }),
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}
