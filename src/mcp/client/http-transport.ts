// The client side of MCP Streamable HTTP, for HTTP upstreams, on node:http with a
// keep-alive agent. The SDK's StreamableHTTPClientTransport goes through fetch (undici's
// Request/Headers/Response objects, and web streams for every body), which was the largest
// share of the gateway's CPU per forwarded call after the policy itself.
//
// What it does is what the SDK's transport does for a server without OAuth: POST each
// message with the session and protocol-version headers; take the session id from the
// answer; read a JSON answer or an event stream; after `notifications/initialized` open
// the GET stream for the server's own messages (list_changed), reconnecting a few times
// with backoff when it drops. Any HTTP error fails the send, so the caller reconnects.
// Every message that comes on a request's own response tells which request it belongs to
// (relatedRequestId), so a server's sampling or logging during a call can be attributed.
import {
  Agent as HttpAgent,
  request as httpRequest,
  type IncomingMessage,
  type RequestOptions,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import type { ClientRequest, OutgoingHttpHeaders } from 'node:http';
import { urlToHttpOptions } from 'node:url';
import { mediaTypeEssence } from '@modelcontextprotocol/sdk/shared/mediaType.js';
import {
  isWithinOrigin,
  type Transport,
  type TransportSendOptions,
} from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/sdk/types.js';
import { McpgateError } from '../../util/errors.js';
import { messageKind } from '../jsonrpc/shape.js';
import type { UpstreamMessageExtra } from './rpc-client.js';

/** Shared by every upstream connection: sockets are reused across calls and sessions. */
const httpAgent = new HttpAgent({ keepAlive: true });
const httpsAgent = new HttpsAgent({ keepAlive: true });

/** As the SDK's transport: redirects it follows, and how many. */
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;

/** As the SDK's defaults for the GET stream: 1 s, growing 1.5x, at most 30 s, 2 retries. */
const RECONNECT = { initialMs: 1000, growth: 1.5, maxMs: 30_000, maxRetries: 2 };

export interface HttpClientTransportOptions {
  /** Configured headers (names in any case; sent as configured). */
  headers: Record<string, string>;
  /**
   * Credential headers for a request that brings none (they override configured ones), read
   * when it is sent.
   */
  credentials: () => Record<string, string> | Promise<Record<string, string>>;
  /**
   * Checks the server's certificate on every TLS connection, after the usual host name
   * check passed (a pinned public key); an Error refuses the connection. Its connections
   * then get an agent of their own, so no socket checked otherwise is ever reused.
   */
  checkCertificate?: (cert: PeerCertificate) => Error | undefined;
}

/** The upstream answered with an HTTP error (message as the SDK's StreamableHTTPError). */
export class UpstreamHttpError extends McpgateError {
  static override readonly code = 'ERR_UPSTREAM_HTTP';

  constructor(
    readonly status: number,
    message: string,
  ) {
    super(`Streamable HTTP error: ${message}`);
  }
}

function lowerCased(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) out[name.toLowerCase()] = value;
  return out;
}

/** What node:http needs to reach a URL, and which module's request() to use. */
interface Target {
  protocol: string | null | undefined;
  hostname: string | null | undefined;
  port: string | number | null | undefined;
  path: string | null | undefined;
  auth: string | null | undefined;
  agent: HttpAgent;
  request: typeof httpRequest;
}

function readText(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (chunk: Buffer) => chunks.push(chunk));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
  });
}

export class HttpClientTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage, extra?: UpstreamMessageExtra) => void;
  /** Messages on a POST's response belong to that POST's request. */
  readonly relatesMessages = true;

  private session: string | undefined;
  private protocolVersion: string | undefined;
  private readonly configured: Record<string, string>;
  private readonly inflight = new Set<ClientRequest>();
  /** The event streams answering our requests, by request id (to end one: endStream). */
  private readonly streams = new Map<string, IncomingMessage>();
  private started = false;
  private closed = false;
  private reconnectTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly url: URL,
    private readonly options: HttpClientTransportOptions,
  ) {
    this.configured = lowerCased(options.headers);
  }

  get sessionId(): string | undefined {
    return this.session;
  }

  setProtocolVersion(version: string): void {
    this.protocolVersion = version;
  }

  start(): Promise<void> {
    if (this.started) return Promise.reject(new Error('transport already started'));
    this.started = true;
    return Promise.resolve();
  }

  /** `options.headers`: the credential of the call this message belongs to, if any. */
  async send(
    message: JSONRPCMessage,
    options?: TransportSendOptions & {
      headers?: Record<string, string>;
      routing?: Record<string, string>;
    },
  ): Promise<void> {
    if (this.closed) throw new Error('transport is closed');
    const body = JSON.stringify(message);
    const headers = this.headers(options?.headers ?? (await this.options.credentials()));
    // 2026-07-28: Mcp-Method and Mcp-Name, never overridden by configured headers.
    if (options?.routing) Object.assign(headers, options.routing);
    headers['content-type'] = 'application/json';
    headers.accept = 'application/json, text/event-stream';
    headers['content-length'] = Buffer.byteLength(body);
    const res = await this.exchange('POST', headers, body);
    const sessionId = res.headers['mcp-session-id'];
    if (typeof sessionId === 'string' && sessionId !== '') this.session = sessionId;
    const status = res.statusCode ?? 0;
    if (status < 200 || status >= 300) {
      const text = await readText(res).catch(() => '');
      throw new UpstreamHttpError(status, `Error POSTing to endpoint (HTTP ${status}): ${text}`);
    }
    const isRequest = 'method' in message && 'id' in message;
    if (status === 202 || !isRequest) {
      res.resume();
      if ('method' in message && message.method === 'notifications/initialized') this.openStream(0);
      return;
    }
    const type = mediaTypeEssence(res.headers['content-type']);
    if (type === 'application/json') {
      const data = JSON.parse(await readText(res)) as unknown;
      const messages: unknown[] = Array.isArray(data) ? data : [data];
      for (const m of messages) {
        if (messageKind(m) === undefined)
          throw new Error('upstream answered an invalid JSON-RPC message');
      }
      const related = { relatedRequestId: message.id };
      for (const m of messages) this.onmessage?.(m as JSONRPCMessage, related);
      return;
    }
    if (type === 'text/event-stream') {
      const id = String(message.id);
      this.streams.set(id, res);
      this.readEvents(
        res,
        () => {
          if (this.streams.get(id) === res) this.streams.delete(id);
        },
        message.id,
      );
      return;
    }
    res.resume();
    throw new UpstreamHttpError(
      -1,
      `Unexpected content type: ${String(res.headers['content-type'])}`,
    );
  }

  /**
   * Closes the event stream answering one request of ours: how a 2026-07-28 client cancels
   * it over HTTP (a subscriptions/listen above all, which never ends by itself).
   */
  endStream(id: RequestId): void {
    const res = this.streams.get(String(id));
    this.streams.delete(String(id));
    res?.destroy();
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    for (const req of this.inflight) req.destroy();
    this.inflight.clear();
    this.checkedAgent?.destroy();
    this.onclose?.();
    return Promise.resolve();
  }

  /** Session, version, configured and credential headers, in that order of precedence. */
  private headers(credentials: Record<string, string>): OutgoingHttpHeaders {
    const headers: OutgoingHttpHeaders = {};
    if (this.session !== undefined) headers['mcp-session-id'] = this.session;
    if (this.protocolVersion !== undefined) headers['mcp-protocol-version'] = this.protocolVersion;
    Object.assign(headers, this.configured);
    for (const name in credentials) headers[name.toLowerCase()] = credentials[name];
    return headers;
  }

  /**
   * One HTTP request; resolves with the response head (the body is the caller's to read).
   * Redirects are followed as the SDK's transport follows them by default: only within the
   * upstream's origin (http to https on default ports included), at most MAX_REDIRECTS,
   * and for a POST only 307 and 308, which keep the method and body.
   */
  private async exchange(
    method: 'POST' | 'GET',
    headers: OutgoingHttpHeaders,
    body?: string,
  ): Promise<IncomingMessage> {
    let url = this.url;
    for (let hops = 0; ; hops++) {
      const res = await this.once(url, method, headers, body);
      const status = res.statusCode ?? 0;
      const location = res.headers.location;
      if (!REDIRECT_STATUSES.has(status) || location === undefined) return res;
      const keepsMethod = status === 307 || status === 308 || method === 'GET';
      let target: URL;
      try {
        target = new URL(location, url);
      } catch {
        return res;
      }
      const addsUserinfo = target.username !== '' || target.password !== '';
      if (hops === MAX_REDIRECTS || !keepsMethod || addsUserinfo || !isWithinOrigin(url, target)) {
        return res;
      }
      res.resume();
      url = target;
    }
  }

  /** Where the last URL asked for points (the upstream's, nearly always). */
  private target: { url: URL; where: Target } | undefined;
  /** The agent of a transport whose certificates are checked (checkCertificate). */
  private checkedAgent: HttpsAgent | undefined;

  private httpsAgentFor(): HttpsAgent {
    const check = this.options.checkCertificate;
    if (check === undefined) return httpsAgent;
    this.checkedAgent ??= new HttpsAgent({
      keepAlive: true,
      checkServerIdentity: (host, cert) => checkServerIdentity(host, cert) ?? check(cert),
    });
    return this.checkedAgent;
  }

  /** Host, port and path of a URL as node:http wants them, worked out once per URL. */
  private targetOf(url: URL): Target {
    if (this.target?.url !== url) {
      const { protocol, hostname, port, path, auth } = urlToHttpOptions(url);
      const https = protocol === 'https:';
      this.target = {
        url,
        where: {
          protocol,
          hostname,
          port,
          path,
          auth,
          agent: https ? this.httpsAgentFor() : httpAgent,
          request: https ? httpsRequest : httpRequest,
        },
      };
    }
    return this.target.where;
  }

  private once(
    url: URL,
    method: 'POST' | 'GET',
    headers: OutgoingHttpHeaders,
    body: string | undefined,
  ): Promise<IncomingMessage> {
    const where = this.targetOf(url);
    const options: RequestOptions = {
      protocol: where.protocol,
      hostname: where.hostname,
      port: where.port,
      path: where.path,
      auth: where.auth,
      agent: where.agent,
      method,
      headers,
    };
    return new Promise((resolve, reject) => {
      const req = where.request(options, (res) => {
        res.once('close', () => this.inflight.delete(req));
        resolve(res);
      });
      this.inflight.add(req);
      req.once('error', (err) => {
        this.inflight.delete(req);
        reject(err);
      });
      req.end(body);
    });
  }

  /** The server's own stream: opened after initialization, reopened a few times if it drops. */
  private openStream(attempt: number): void {
    if (this.closed) return;
    const retry = (): void => {
      if (this.closed) return;
      if (attempt >= RECONNECT.maxRetries) {
        this.onerror?.(
          new Error('upstream event stream lost; maximum reconnection attempts exceeded'),
        );
        return;
      }
      const delay = Math.min(RECONNECT.maxMs, RECONNECT.initialMs * RECONNECT.growth ** attempt);
      this.reconnectTimer = setTimeout(() => this.openStream(attempt + 1), delay);
      this.reconnectTimer.unref();
    };
    void (async () => {
      const headers = this.headers(await this.options.credentials());
      headers.accept = 'text/event-stream';
      const res = await this.exchange('GET', headers);
      const status = res.statusCode ?? 0;
      if (status === 405) {
        // The server offers no stream: fine, as the spec allows.
        res.resume();
        return;
      }
      if (status < 200 || status >= 300) {
        res.resume();
        throw new UpstreamHttpError(status, `Failed to open SSE stream (HTTP ${status})`);
      }
      // A stream that opened resets the retry budget for its own loss.
      attempt = 0;
      this.readEvents(res, retry);
    })().catch((err: unknown) => {
      if (this.closed) return;
      this.onerror?.(err instanceof Error ? err : new Error(String(err)));
      if (!(err instanceof UpstreamHttpError)) retry();
    });
  }

  /**
   * Delivers each `message` event of a text/event-stream body; `ended` runs when it ends.
   * `relatedId`: the request whose response this stream is (none for the GET stream).
   */
  private readEvents(res: IncomingMessage, ended: () => void, relatedId?: RequestId): void {
    res.setEncoding('utf8');
    const extra: UpstreamMessageExtra | undefined =
      relatedId === undefined ? undefined : { relatedRequestId: relatedId };
    let buffer = '';
    const dispatch = (block: string): void => {
      let event = '';
      let data: string | undefined;
      for (const line of block.split(/\r\n|\r|\n/)) {
        if (line === '' || line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon === -1 ? line : line.slice(0, colon);
        let value = colon === -1 ? '' : line.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        if (field === 'event') event = value;
        else if (field === 'data') data = data === undefined ? value : `${data}\n${value}`;
      }
      if (!data || (event !== '' && event !== 'message')) return;
      try {
        const message = JSON.parse(data) as unknown;
        if (messageKind(message) === undefined) throw new Error('invalid JSON-RPC message');
        this.onmessage?.(message as JSONRPCMessage, extra);
      } catch (err) {
        this.onerror?.(new Error(`upstream sent an unreadable event: ${(err as Error).message}`));
      }
    };
    res.on('data', (chunk: string) => {
      buffer += chunk;
      let end: RegExpExecArray | null;
      const boundary = /\r\n\r\n|\n\n|\r\r/g;
      let start = 0;
      while ((end = boundary.exec(buffer)) !== null) {
        dispatch(buffer.slice(start, end.index));
        start = end.index + end[0].length;
      }
      buffer = buffer.slice(start);
    });
    // 'close' comes after 'end' and also after a reset, so a dropped stream is noticed too.
    res.once('close', ended);
    res.once('error', (err) => {
      if (!this.closed) this.onerror?.(new Error(`upstream event stream failed: ${err.message}`));
    });
  }
}
