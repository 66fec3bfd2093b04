// The client side of the legacy HTTP+SSE transport (MCP 2024-11-05), for upstreams that
// speak only that: a GET opens an event stream whose first event names the endpoint for
// POSTs, and every answer arrives on that stream. The SDK's SSEClientTransport does the
// protocol; this wraps it for the gateway's upstream client:
//   - each POST carries the credential of the call it belongs to (send's `headers`), or,
//     outside a call, the connection's own credential, after the configured headers, as
//     HttpClientTransport does for Streamable HTTP;
//   - the stream is the connection: when it fails or ends, the transport closes, so the
//     connection reconnects with a new upstream session. (The SDK's EventSource would
//     reconnect by itself and receive a new, uninitialised session from the server, on
//     which the requests in flight would never be answered.)
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import type { TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { UpstreamTransport } from './rpc-client.js';

export interface SseClientTransportOptions {
  /** Configured headers, on the stream and on every POST. */
  headers: Record<string, string>;
  /** Credential headers for a request that brings none (the stream, messages outside a call). */
  credentials: () => Record<string, string> | Promise<Record<string, string>>;
}

export class SseClientTransport implements UpstreamTransport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  private readonly sdk: SSEClientTransport;
  /**
   * The credential of each message being sent, by its JSON text: the SDK's transport
   * serialises the message and hands the text to fetch, which looks its headers up here.
   */
  private readonly callHeaders = new Map<string, Array<Record<string, string>>>();
  private opened = false;
  private closed = false;

  constructor(
    url: URL,
    private readonly options: SseClientTransportOptions,
  ) {
    this.sdk = new SSEClientTransport(url, {
      fetch: (input, init) => this.fetchWithHeaders(input, init),
    });
    this.sdk.onmessage = (message) => this.onmessage?.(message);
    this.sdk.onerror = (error) => {
      this.onerror?.(error);
      // Once open, a failed stream or POST ends this upstream session (see above).
      if (this.opened) void this.close();
    };
    this.sdk.onclose = () => this.ended();
  }

  async start(): Promise<void> {
    await this.sdk.start();
    this.opened = true;
  }

  setProtocolVersion(version: string): void {
    this.sdk.setProtocolVersion(version);
  }

  async send(
    message: JSONRPCMessage,
    options?: TransportSendOptions & { headers?: Record<string, string> },
  ): Promise<void> {
    if (this.closed) throw new Error('transport is closed');
    const headers = options?.headers;
    if (headers === undefined) return this.sdk.send(message);
    const text = JSON.stringify(message);
    let waiting = this.callHeaders.get(text);
    if (!waiting) this.callHeaders.set(text, (waiting = []));
    waiting.push(headers);
    try {
      await this.sdk.send(message);
    } finally {
      // Normally taken by fetch already; not when the send failed before reaching it.
      const left = this.callHeaders.get(text);
      const at = left?.indexOf(headers) ?? -1;
      if (left && at !== -1) left.splice(at, 1);
      if (left?.length === 0) this.callHeaders.delete(text);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.sdk.close();
  }

  private ended(): void {
    if (this.closed) return;
    this.closed = true;
    this.callHeaders.clear();
    this.onclose?.();
  }

  /** Every request of the SDK's transport: configured headers, then the credential. */
  private async fetchWithHeaders(input: string | URL, init?: RequestInit): Promise<Response> {
    const headers = new Headers(init?.headers);
    for (const [name, value] of Object.entries(this.options.headers)) headers.set(name, value);
    const credential = this.takeCallHeaders(init?.body) ?? (await this.options.credentials());
    for (const [name, value] of Object.entries(credential)) headers.set(name, value);
    return fetch(input, { ...init, headers });
  }

  private takeCallHeaders(body: unknown): Record<string, string> | undefined {
    if (typeof body !== 'string') return undefined;
    const waiting = this.callHeaders.get(body);
    const headers = waiting?.shift();
    if (waiting?.length === 0) this.callHeaders.delete(body);
    return headers;
  }
}
