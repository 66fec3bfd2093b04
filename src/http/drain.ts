// Shutdown without cutting calls short: at SIGTERM the gateway stops taking requests (each
// new one gets 503 and `Connection: close`, so clients and load balancers go elsewhere),
// lets the requests in progress finish, within a bound, and only then closes sessions,
// upstreams and the decision log. Long-lived streams on /mcp are not waited for: they carry
// no call of their own and are closed with the sessions (GET streams, and the POSTs of MCP
// 2026-07-28's subscriptions/listen, told by their Mcp-Method header, which the endpoint
// holds to the body).
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { GATEWAY_REFUSED } from '../mcp/jsonrpc/codes.js';
import { sendJsonRpcError } from '../mcp/jsonrpc/http-error.js';
import { isMcpPath } from './listener.js';

const SHUTTING_DOWN =
  'the gateway is shutting down; retry the request (another replica may serve it)';

/** What the drain waited for, and what was left when it stopped waiting. */
export interface DrainOutcome {
  /** Requests still in progress when the bound ran out (they are cut off). */
  unfinished: number;
  waitedMs: number;
}

export class Drain {
  private inProgress = 0;
  private stopped = false;
  private onIdle: (() => void) | undefined;

  /** True once stop() was called: readiness is false, new requests are refused. */
  get stopping(): boolean {
    return this.stopped;
  }

  /** Requests being served now (GET streams on /mcp and the health probes not counted). */
  get requestsInProgress(): number {
    return this.inProgress;
  }

  /** Wraps the server's listener: counts requests, and refuses new ones once stopped. */
  listener(inner: RequestListener): RequestListener {
    return (req: IncomingMessage, res: ServerResponse) => {
      if (this.stopped && !isProbe(req)) {
        refuse(req, res);
        return;
      }
      if (!isProbe(req) && !isMcpStream(req)) {
        this.inProgress++;
        res.once('close', () => {
          this.inProgress--;
          if (this.inProgress === 0) this.onIdle?.();
        });
      }
      inner(req, res);
    };
  }

  /** Refuses new requests from now on. */
  stop(): void {
    this.stopped = true;
  }

  /** Resolves once no request is in progress, or after timeoutMs. */
  async drained(timeoutMs: number): Promise<DrainOutcome> {
    const started = Date.now();
    if (this.inProgress > 0) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.onIdle = resolve;
        timer = setTimeout(resolve, timeoutMs);
      });
      clearTimeout(timer);
      this.onIdle = undefined;
    }
    return { unfinished: this.inProgress, waitedMs: Date.now() - started };
  }
}

/** /healthz and /readyz still answer while the gateway drains (readyz: not ready). */
function isProbe(req: IncomingMessage): boolean {
  return req.method === 'GET' && (req.url === '/healthz' || req.url === '/readyz');
}

/** A long-lived stream on /mcp: a GET, or a 2026-07-28 subscriptions/listen. */
function isMcpStream(req: IncomingMessage): boolean {
  if (!isMcpPath(req.url)) return false;
  return req.method === 'GET' || req.headers['mcp-method'] === 'subscriptions/listen';
}

function refuse(req: IncomingMessage, res: ServerResponse): void {
  // The body is not read: the connection closes after this answer.
  res.shouldKeepAlive = false;
  const headers = { 'Retry-After': '1', Connection: 'close' };
  if (isMcpPath(req.url)) {
    sendJsonRpcError(res, 503, GATEWAY_REFUSED, SHUTTING_DOWN, headers);
    return;
  }
  res.writeHead(503, { 'Content-Type': 'application/json', ...headers });
  res.end(JSON.stringify({ error: 'shutting_down', message: SHUTTING_DOWN }));
}
