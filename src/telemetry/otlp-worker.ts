// The OTLP/HTTP sender of the trace exporter, on a worker thread: it POSTs the protobuf
// bodies the gateway's thread serialised (handed over without a copy) to the receiver and
// answers each with its outcome. The HTTP requests, their buffers and their garbage stay off
// the thread that serves MCP requests. Started by tracing.ts; nothing else imports it.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { parentPort, workerData } from 'node:worker_threads';

interface SenderConfig {
  url: string;
  headers: Record<string, string>;
  timeoutMs: number;
}

interface Job {
  id: number;
  body: Uint8Array;
}

const config = workerData as SenderConfig;
const target = new URL(config.url);
const send = target.protocol === 'https:' ? httpsRequest : httpRequest;

function reply(id: number, error: string | undefined): void {
  parentPort?.postMessage(error === undefined ? { id, ok: true } : { id, ok: false, error });
}

parentPort?.on('message', (job: Job) => {
  let answered = false;
  const answer = (error: string | undefined): void => {
    if (answered) return;
    answered = true;
    reply(job.id, error);
  };
  const req = send(
    target,
    {
      method: 'POST',
      headers: {
        ...config.headers,
        'Content-Type': 'application/x-protobuf',
        'Content-Length': job.body.byteLength,
      },
      timeout: config.timeoutMs,
    },
    (res) => {
      res.resume();
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        answer(status >= 200 && status < 300 ? undefined : `the OTLP receiver answered ${status}`);
      });
      res.on('error', (err) => answer(err.message));
    },
  );
  req.on('timeout', () => req.destroy(new Error(`no answer within ${config.timeoutMs} ms`)));
  req.on('error', (err) => answer(err.message));
  req.end(job.body);
});
