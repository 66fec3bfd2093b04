// Host names as a Host header (RFC 9110, 7.2) or a gateway.allowed_hosts entry writes them:
// `name[:port]`, an IPv6 address in brackets. Shared by the configuration, which checks the
// entries, and the Host guard of /mcp, which compares requests with them.
import { isIP } from 'node:net';

/** One parsed Host header (or allow-list entry): a lower-case name and an optional port. */
export interface HostName {
  /** Lower case, without a trailing dot; an IPv6 address in brackets. */
  name: string;
  port: number | undefined;
}

/**
 * `host[:port]` as a Host header or an allow-list entry writes it; undefined when it is not
 * one (a path, user info, an empty name, a bad port, an unbracketed IPv6 address).
 */
export function parseHost(value: string): HostName | undefined {
  if (value === '' || /[\s/\\?#@]/.test(value)) return undefined;
  let name = value;
  let port: number | undefined;
  const portAt = value.lastIndexOf(':');
  const closing = value.lastIndexOf(']');
  if (portAt > closing) {
    const digits = value.slice(portAt + 1);
    if (!/^\d{1,5}$/.test(digits) || Number(digits) > 65535) return undefined;
    port = Number(digits);
    name = value.slice(0, portAt);
  }
  name = name.toLowerCase();
  if (name.startsWith('[')) {
    if (!name.endsWith(']') || isIP(name.slice(1, -1)) !== 6) return undefined;
    return { name, port };
  }
  if (name.endsWith('.')) name = name.slice(0, -1);
  if (!/^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(name)) return undefined;
  return { name, port };
}
