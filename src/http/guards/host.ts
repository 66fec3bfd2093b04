// Guard in front of /mcp: the Host header must name this gateway (its public URL, its listen
// address, or a name in gateway.allowed_hosts). A DNS-rebinding page makes a browser send
// requests to the gateway's address under the attacker's own name: the Origin guard catches
// the cross-origin case, this one the rebound same-origin case, whatever the browser does
// with Origin. Defence in depth: every /mcp request also needs a bearer token.
//
// 421 Misdirected Request (RFC 9110, 15.5.20): the request names an authority this server
// does not answer for. Not 403, which says the request was understood and the caller is
// not allowed (that is the policy's and the token's answer); not 400, which RFC 9112
// (3.2) keeps for a Host header that is missing or malformed.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { INVALID_REQUEST } from '../../mcp/jsonrpc/codes.js';
import { sendJsonRpcError } from '../../mcp/jsonrpc/http-error.js';
import { parseHost, type HostName } from '../../util/host-name.js';

/** What the allow-list is made of (gateway.public_url, host, port, allowed_hosts). */
export interface HostConfig {
  publicUrl: string | undefined;
  /** gateway.host: the address the gateway listens on. */
  listenHost: string;
  /** gateway.allowed_hosts, checked by the config: `*`, `[*.]name[:port]`, `[v6][:port]`. */
  allowedHosts: readonly string[];
}

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];
const WILDCARD_ADDRESSES = new Set(['0.0.0.0', '::', '[::]', '']);

/** The name as a Host header carries it: an IPv6 address in brackets. */
function hostForm(address: string): string {
  return isIP(address) === 6 ? `[${address.toLowerCase()}]` : address.toLowerCase();
}

function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  return bare === 'localhost' || bare === '::1' || (isIP(bare) === 4 && bare.startsWith('127.'));
}

/** The names a Host header may carry, with the ports each may carry. */
export class HostAllowList {
  /** Any Host header at all (allowed_hosts: ["*"]). */
  private anyHost = false;
  /** Name → the ports it may carry ("any": every port, and none). */
  private readonly exact = new Map<string, Set<number | 'none'> | 'any'>();
  /** `*.example.com` entries: the suffix `.example.com` → ports. */
  private readonly suffixes: Array<{ suffix: string; port: number | undefined }> = [];

  constructor(private readonly config: HostConfig) {
    for (const entry of config.allowedHosts) this.addEntry(entry);
    const url = config.publicUrl === undefined ? undefined : new URL(config.publicUrl);
    if (url) {
      // A client using the URL as written sends the port only when it is not the default.
      const name = url.hostname.toLowerCase().replace(/\.$/, '');
      const defaultPort = url.protocol === 'https:' ? 443 : 80;
      const port = url.port === '' ? defaultPort : Number(url.port);
      this.allow(name, port);
      if (port === defaultPort) this.allow(name, 'none');
    }
  }

  /** The listen address is allowed once its port is known (port 0 picks one at start). */
  listening(port: number): void {
    const listen = this.config.listenHost;
    const names = WILDCARD_ADDRESSES.has(listen)
      ? [...LOOPBACK_NAMES, ...localAddresses()]
      : isLoopback(listen)
        ? [...LOOPBACK_NAMES, hostForm(listen)]
        : [hostForm(listen)];
    for (const name of names) {
      this.allow(name, port);
      if (port === 80) this.allow(name, 'none');
    }
  }

  /** Whether a Host header names this gateway. */
  allows(host: HostName): boolean {
    if (this.anyHost) return true;
    const port = host.port ?? 'none';
    const ports = this.exact.get(host.name);
    if (ports === 'any' || ports?.has(port)) return true;
    return this.suffixes.some(
      (s) => host.name.endsWith(s.suffix) && (s.port === undefined || s.port === host.port),
    );
  }

  /** Every allowed `name[:port]`, for the start-up log. */
  describe(): string[] {
    if (this.anyHost) return ['*'];
    const out: string[] = [];
    for (const [name, ports] of this.exact) {
      if (ports === 'any') out.push(name);
      else for (const port of ports) out.push(port === 'none' ? name : `${name}:${port}`);
    }
    for (const s of this.suffixes) {
      out.push(s.port === undefined ? `*${s.suffix}` : `*${s.suffix}:${s.port}`);
    }
    return out;
  }

  private addEntry(entry: string): void {
    if (entry === '*') {
      this.anyHost = true;
      return;
    }
    const wildcard = entry.startsWith('*.');
    const parsed = parseHost(wildcard ? entry.slice(2) : entry);
    // The configuration refuses such entries (config/schema.ts); never widen on one.
    if (!parsed) return;
    if (wildcard) this.suffixes.push({ suffix: `.${parsed.name}`, port: parsed.port });
    else this.allow(parsed.name, parsed.port ?? 'any');
  }

  private allow(name: string, port: number | 'none' | 'any'): void {
    const known = this.exact.get(name);
    if (known === 'any') return;
    if (port === 'any') {
      this.exact.set(name, 'any');
      return;
    }
    if (known) known.add(port);
    else this.exact.set(name, new Set([port]));
  }
}

/** Every address of this machine's interfaces, as a Host header writes it. */
function localAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flatMap((addresses) => addresses ?? [])
    .map((a) => hostForm(a.address.replace(/%.*$/, '')));
}

/** True to go on; false when the request was refused (and answered). */
export function hostGuard(
  allowed: HostAllowList,
): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    const header = req.headers.host;
    const host = header === undefined ? undefined : parseHost(header);
    if (!host) {
      sendJsonRpcError(
        res,
        400,
        INVALID_REQUEST,
        header === undefined
          ? 'a Host header is required'
          : 'the Host header is not a host name with an optional port',
      );
      return false;
    }
    if (allowed.allows(host)) return true;
    // The allowed names are not listed: a rebinding page could read them.
    sendJsonRpcError(
      res,
      421,
      INVALID_REQUEST,
      `Host ${JSON.stringify(header)} is not a name of this gateway; use the gateway's URL ` +
        '(an operator can allow other names with gateway.allowed_hosts)',
    );
    return false;
  };
}
