// The OTLP/HTTP sender of the trace export: POSTs a batch's protobuf body to the receiver on
// a keep-alive connection and says how it went. It runs on the gateway's own thread: a batch
// of 1,024 spans is one request for every 128 traced calls, and a worker thread cost more
// than the request itself (a hand-over that can wait milliseconds on the other thread,
// which shares the core; a second V8 heap). Used by tracing.ts only.
import { Agent as HttpAgent, request as httpRequest, type ClientRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

export interface OtlpSenderConfig {
  url: string;
  headers: Record<string, string>;
  timeoutMs: number;
}

export class OtlpSender {
  private readonly target: URL;
  private readonly agent: HttpAgent;
  private readonly send: (
    url: URL,
    options: {
      method: string;
      headers: Record<string, string | number>;
      timeout: number;
      agent: HttpAgent;
    },
    answered: Parameters<typeof httpRequest>[2],
  ) => ClientRequest;

  constructor(private readonly config: OtlpSenderConfig) {
    this.target = new URL(config.url);
    const https = this.target.protocol === 'https:';
    // Two connections: a batch can go while the one before waits for its answer.
    this.agent = https
      ? new HttpsAgent({ keepAlive: true, maxSockets: 2 })
      : new HttpAgent({ keepAlive: true, maxSockets: 2 });
    this.send = https ? httpsRequest : httpRequest;
  }

  /** Sends one body; `done` gets undefined when the receiver took it, else why not. */
  post(body: Uint8Array, done: (error: string | undefined) => void): void {
    let answered = false;
    const answer = (error: string | undefined): void => {
      if (answered) return;
      answered = true;
      done(error);
    };
    const { timeoutMs } = this.config;
    const req = this.send(
      this.target,
      {
        method: 'POST',
        headers: {
          ...this.config.headers,
          'Content-Type': 'application/x-protobuf',
          'Content-Length': body.byteLength,
        },
        timeout: timeoutMs,
        agent: this.agent,
      },
      (res) => {
        res.resume();
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          answer(
            status >= 200 && status < 300 ? undefined : `the OTLP receiver answered ${status}`,
          );
        });
        res.on('error', (err) => answer(err.message));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err) => answer(err.message));
    req.end(body);
  }

  /** Closes the idle connections (a request still under way finishes or times out). */
  close(): void {
    this.agent.destroy();
  }
}
