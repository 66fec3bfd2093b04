// The two eras on one endpoint (src/mcp/server/eras.ts) and the run keys of the stateless
// era (src/http/run-sessions.ts): which POSTs are stateless, the envelope and header checks
// in their order, the Mcp-Name Base64 form, and session ids derived from verified facts.
import { describe, expect, it } from '@jest/globals';
import type { IncomingMessage } from 'node:http';
import { RunKeyError, RunKeys, runOf } from '../../src/http/run-sessions.js';
import { Caller } from '../../src/identity/caller.js';
import type { Identity } from '../../src/identity/identity.js';
import {
  checkEnvelope,
  decodeNameHeader,
  eraOf,
  isStatelessRequest,
} from '../../src/mcp/server/eras.js';

const V = '2026-07-28';
const envelope = {
  'io.modelcontextprotocol/protocolVersion': V,
  'io.modelcontextprotocol/clientCapabilities': {},
  'io.modelcontextprotocol/clientInfo': { name: 'c', version: '1' },
};
const call = (name: string, meta: Record<string, unknown> = envelope) => ({
  jsonrpc: '2.0',
  id: 1,
  method: 'tools/call',
  params: { name, arguments: {}, _meta: meta },
});
const headers = (extra: Record<string, string> = {}) => ({
  'mcp-protocol-version': V,
  'mcp-method': 'tools/call',
  'mcp-name': 'read',
  ...extra,
});

function caller(claims: Record<string, unknown> = {}, subject = 'alice', client = 'agent'): Caller {
  const identity: Identity = {
    issuer: 'https://idp.test',
    subject,
    user_id: subject,
    client_id: client,
    scopes: [],
    roles: [],
    groups: [],
    groups_overage: false,
    token_type: 'user',
    amr: [],
    claims,
  };
  return new Caller(identity, undefined, 'token');
}

const request = (h: Record<string, string> = {}) => ({ headers: h }) as unknown as IncomingMessage;

describe('which era a POST without Mcp-Session-Id is', () => {
  it('is stateless for a 2026-07-28 version header, a _meta version, or server/discover', () => {
    expect(isStatelessRequest({}, { 'mcp-protocol-version': V })).toBe(true);
    expect(isStatelessRequest(call('read'), {})).toBe(true);
    expect(isStatelessRequest({ method: 'server/discover' }, {})).toBe(true);
    expect(isStatelessRequest({ method: 'initialize', params: {} }, {})).toBe(false);
    expect(
      isStatelessRequest({ method: 'tools/list' }, { 'mcp-protocol-version': '2025-11-25' }),
    ).toBe(false);
    expect(isStatelessRequest([call('read')], {})).toBe(false);
  });

  it('tells the era of a version', () => {
    expect(eraOf(V)).toBe('stateless');
    expect(eraOf('2025-11-25')).toBe('handshake');
    expect(eraOf(undefined)).toBe('handshake');
  });
});

describe('the envelope of a stateless request', () => {
  it('takes a request whose headers say what its body says', () => {
    expect(checkEnvelope(call('read'), headers())).toEqual({
      envelope: {
        protocolVersion: V,
        clientInfo: { name: 'c', version: '1' },
        clientCapabilities: {},
      },
    });
  });

  it('refuses a missing envelope key (-32602) before anything else', () => {
    const refused = checkEnvelope(
      call('read', { 'io.modelcontextprotocol/protocolVersion': V }),
      headers(),
    );
    expect(refused).toEqual({
      refused: expect.objectContaining({
        status: 400,
        code: -32602,
        message: expect.stringContaining('clientCapabilities'),
      }),
    });
  });

  it('refuses each header that contradicts the body (-32020)', () => {
    for (const wrong of <Array<Record<string, string>>>[
      { 'mcp-protocol-version': '2025-11-25' },
      { 'mcp-method': 'tools/list' },
      { 'mcp-name': 'write' },
    ]) {
      expect(checkEnvelope(call('read'), headers(wrong))).toEqual({
        refused: expect.objectContaining({ status: 400, code: -32020 }),
      });
    }
    const withoutName: Record<string, string> = headers();
    delete withoutName['mcp-name'];
    expect(checkEnvelope(call('read'), withoutName)).toEqual({
      refused: expect.objectContaining({ code: -32020 }),
    });
  });

  it('checks the headers before the version, then refuses an unknown version (-32022)', () => {
    const old = { ...envelope, 'io.modelcontextprotocol/protocolVersion': '2099-01-01' };
    expect(checkEnvelope(call('read', old), headers())).toEqual({
      refused: expect.objectContaining({ code: -32020 }),
    });
    expect(
      checkEnvelope(call('read', old), headers({ 'mcp-protocol-version': '2099-01-01' })),
    ).toEqual({
      refused: {
        status: 400,
        code: -32022,
        message: expect.stringContaining('Unsupported protocol version'),
        data: { supported: expect.arrayContaining([V, '2025-11-25']), requested: '2099-01-01' },
      },
    });
  });

  it('reads a name in the Base64 form, canonical only', () => {
    const name = 'lire_fichier_é';
    const encoded = `=?base64?${Buffer.from(name).toString('base64')}?=`;
    expect(decodeNameHeader(encoded)).toBe(name);
    expect(checkEnvelope(call(name), headers({ 'mcp-name': encoded }))).toHaveProperty('envelope');
    expect(decodeNameHeader('=?base64?cmVhZA=?=')).toBeUndefined();
    expect(decodeNameHeader('=?base64?/w==?=')).toBeUndefined(); // not UTF-8
    expect(decodeNameHeader('read')).toBe('read');
  });

  it('refuses a batch', () => {
    expect(checkEnvelope([call('read')], headers())).toEqual({
      refused: expect.objectContaining({ code: -32600 }),
    });
  });
});

describe('run keys', () => {
  const keys = new RunKeys('x'.repeat(32), true);

  it('derives one id per principal, client, purpose and run, the same on every replica', () => {
    const id = keys.sessionId(caller(), 'review', 'run-1');
    expect(id).toMatch(/^r[A-Za-z0-9_-]{43}$/);
    expect(new RunKeys('x'.repeat(32), true).sessionId(caller(), 'review', 'run-1')).toBe(id);
    const others = [
      keys.sessionId(caller({}, 'bob'), 'review', 'run-1'),
      keys.sessionId(caller({}, 'alice', 'other-agent'), 'review', 'run-1'),
      keys.sessionId(caller(), 'deploy', 'run-1'),
      keys.sessionId(caller(), 'review', 'run-2'),
      new RunKeys('y'.repeat(32), true).sessionId(caller(), 'review', 'run-1'),
    ];
    expect(new Set([id, ...others]).size).toBe(6);
  });

  it('refuses a short key, and a shared store without one', () => {
    expect(() => new RunKeys('short', false)).toThrow(RunKeyError);
    expect(new RunKeys(undefined, true).usable).toBe(false);
    expect(new RunKeys(undefined, false).usable).toBe(true);
  });

  it('takes the run from a run-bound token first, then the header, then _meta', () => {
    const body = { params: { _meta: { 'mcpgate/run': 'from-meta' } } };
    expect(runOf(request(), {}, caller())).toEqual({ run: '' });
    expect(runOf(request(), body, caller())).toEqual({ run: 'from-meta' });
    expect(runOf(request({ 'mcp-run': 'from-header' }), body, caller())).toEqual({
      run: 'from-header',
    });
    expect(runOf(request(), body, caller({ mcp_run: 'bound' }))).toEqual({
      refused: expect.stringContaining('bound to agent run "bound"'),
    });
    expect(runOf(request({ 'mcp-run': 'bound' }), {}, caller({ mcp_run: 'bound' }))).toEqual({
      run: 'bound',
    });
    expect(runOf(request({ 'mcp-run': 'a b' }), {}, caller())).toEqual({
      refused: expect.stringContaining('Mcp-Run must be'),
    });
  });
});
