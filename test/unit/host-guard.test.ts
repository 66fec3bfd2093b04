// The names /mcp answers to: the public URL (with and without its default port), the listen
// address (every loopback name for a loopback address, every interface address for a
// wildcard one), and gateway.allowed_hosts (exact, any port, `*.suffix`, `*`).
import { describe, expect, it } from '@jest/globals';
import { networkInterfaces } from 'node:os';
import { HostAllowList, type HostConfig } from '../../src/http/guards/host.js';
import { parseHost } from '../../src/util/host-name.js';

function allowList(config: Partial<HostConfig>, port = 8080): HostAllowList {
  const list = new HostAllowList({
    publicUrl: undefined,
    listenHost: '127.0.0.1',
    allowedHosts: [],
    ...config,
  });
  list.listening(port);
  return list;
}

function allows(list: HostAllowList, header: string): boolean {
  const host = parseHost(header);
  if (!host) throw new Error(`not a host: ${header}`);
  return list.allows(host);
}

describe('parseHost', () => {
  it.each([
    ['example.com', { name: 'example.com', port: undefined }],
    ['Example.COM:8080', { name: 'example.com', port: 8080 }],
    ['example.com.', { name: 'example.com', port: undefined }],
    ['127.0.0.1:80', { name: '127.0.0.1', port: 80 }],
    ['[::1]', { name: '[::1]', port: undefined }],
    ['[::1]:8080', { name: '[::1]', port: 8080 }],
    ['[FE80::1]:1', { name: '[fe80::1]', port: 1 }],
    ['my_host', { name: 'my_host', port: undefined }],
  ])('reads %j', (value, expected) => {
    expect(parseHost(value)).toEqual(expected);
  });

  it.each([
    '',
    ':8080',
    'example.com:',
    'example.com:65536',
    'example.com:8o',
    '::1',
    '[::1',
    '[example.com]',
    'user@example.com',
    'example.com/path',
    'a b',
    'a..b',
    '*.example.com',
  ])('refuses %j', (value) => {
    expect(parseHost(value)).toBeUndefined();
  });
});

describe('HostAllowList', () => {
  it('allows every loopback name on the bound port for a loopback listen address', () => {
    const list = allowList({ listenHost: '127.0.0.1' }, 8080);
    for (const host of ['127.0.0.1:8080', 'localhost:8080', 'LOCALHOST:8080', '[::1]:8080']) {
      expect(allows(list, host)).toBe(true);
    }
    for (const host of ['127.0.0.1', 'localhost:8081', 'evil.example:8080', '10.0.0.1:8080']) {
      expect(allows(list, host)).toBe(false);
    }
  });

  it('allows a bare name when the listen port is 80', () => {
    const list = allowList({ listenHost: 'localhost' }, 80);
    expect(allows(list, 'localhost')).toBe(true);
    expect(allows(list, 'localhost:80')).toBe(true);
  });

  it('allows only the configured address for a specific one', () => {
    const list = allowList({ listenHost: '10.1.2.3' });
    expect(allows(list, '10.1.2.3:8080')).toBe(true);
    expect(allows(list, 'localhost:8080')).toBe(false);
    const v6 = allowList({ listenHost: 'fd00::5' });
    expect(allows(v6, '[fd00::5]:8080')).toBe(true);
  });

  it("allows the machine's interface addresses for a wildcard listen address", () => {
    const list = allowList({ listenHost: '0.0.0.0' });
    const addresses = Object.values(networkInterfaces()).flatMap((a) => a ?? []);
    expect(addresses.length).toBeGreaterThan(0);
    for (const a of addresses) {
      const name = a.family === 'IPv6' ? `[${a.address.replace(/%.*$/, '')}]` : a.address;
      expect(allows(list, `${name}:8080`)).toBe(true);
    }
    expect(allows(list, 'localhost:8080')).toBe(true);
    expect(allows(list, 'evil.example:8080')).toBe(false);
  });

  it('allows the public URL as a client writes it: default port or none', () => {
    const https = allowList({ publicUrl: 'https://mcp.example.com' });
    expect(allows(https, 'mcp.example.com')).toBe(true);
    expect(allows(https, 'mcp.example.com:443')).toBe(true);
    expect(allows(https, 'mcp.example.com:80')).toBe(false);
    const custom = allowList({ publicUrl: 'http://mcp.example.com:9000/base' });
    expect(allows(custom, 'mcp.example.com:9000')).toBe(true);
    expect(allows(custom, 'mcp.example.com')).toBe(false);
  });

  it('allows allowed_hosts entries: any port without one, only that port with one', () => {
    const list = allowList({ allowedHosts: ['mcpgate.svc', 'proxy.example:8443', '[fd00::1]'] });
    expect(allows(list, 'mcpgate.svc')).toBe(true);
    expect(allows(list, 'mcpgate.svc:1234')).toBe(true);
    expect(allows(list, 'proxy.example:8443')).toBe(true);
    expect(allows(list, 'proxy.example')).toBe(false);
    expect(allows(list, 'proxy.example:8080')).toBe(false);
    expect(allows(list, '[fd00::1]:8080')).toBe(true);
  });

  it('allows every name under a *. entry, not the bare suffix', () => {
    const list = allowList({ allowedHosts: ['*.svc.cluster.local', '*.corp.example:8443'] });
    expect(allows(list, 'mcpgate.ns.svc.cluster.local:8080')).toBe(true);
    expect(allows(list, 'svc.cluster.local:8080')).toBe(false);
    expect(allows(list, 'evilsvc.cluster.local:8080')).toBe(false);
    expect(allows(list, 'a.corp.example:8443')).toBe(true);
    expect(allows(list, 'a.corp.example')).toBe(false);
  });

  it('allows any Host with *', () => {
    expect(allows(allowList({ allowedHosts: ['*'] }), 'anything.example:1')).toBe(true);
  });

  it('describes what it allows, for the start-up log', () => {
    const list = allowList({
      publicUrl: 'https://mcp.example.com',
      allowedHosts: ['mcpgate.svc', '*.corp.example:8443'],
    });
    expect(list.describe().sort()).toEqual(
      [
        '*.corp.example:8443',
        '127.0.0.1:8080',
        '[::1]:8080',
        'localhost:8080',
        'mcp.example.com',
        'mcp.example.com:443',
        'mcpgate.svc',
      ].sort(),
    );
  });
});
