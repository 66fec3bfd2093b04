// The credential broker against the real dev IdP, for the paths the gateway e2e does not
// take: private_key_jwt client authentication (a certificate-style key instead of a
// secret), secret rotation, and the cache being dropped when a session ends.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt, exportJWK, exportPKCS8, generateKeyPair } from 'jose';
import type { CredentialConfig } from '../../src/config/credentials.js';
import { CredentialBroker } from '../../src/credentials/broker.js';
import { startDevIdp, type DevIdp } from '../../dev/idp/index.js';
import { silentLogger } from '../../src/util/logger.js';

const API = 'https://github.example/api';
let idp: DevIdp;
let keyFile: string;

beforeAll(async () => {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  keyFile = join(mkdtempSync(join(tmpdir(), 'mcpgate-broker-')), 'gateway-key.pem');
  writeFileSync(keyFile, await exportPKCS8(privateKey));
  idp = await startDevIdp({
    audience: 'http://127.0.0.1:1/mcp',
    issuers: [{ profile: 'oidc' }],
    exchangeScopes: { [API]: ['repo:read', 'repo:comment'] },
    gatewayClientJwks: { keys: [{ ...(await exportJWK(publicKey)), alg: 'RS256', use: 'sig' }] },
  });
});

afterAll(async () => {
  await idp?.stop();
});

function config(): CredentialConfig {
  return {
    type: 'token-exchange',
    issuer: idp.issuer('oidc').issuer,
    audience: API,
    clientId: idp.gatewayClientId,
    clientAuth: { kind: 'private_key_jwt', key: { kind: 'file', path: keyFile }, alg: 'RS256' },
    defaultScopes: ['repo:read'],
    refreshBeforeMs: 0,
    allowInsecureHttp: true,
  };
}

describe('CredentialBroker', () => {
  it('exchanges with private_key_jwt client authentication and scopes the token', async () => {
    const broker = new CredentialBroker('gw', silentLogger);
    const subjectToken = await idp.mintUserToken('oidc', { user: 'alice', scopes: ['mcp:tools'] });
    const who = {
      sessionId: 's1',
      subjectToken,
      subject: 'alice',
      clientId: 'agent',
      tokenType: 'user' as const,
    };
    const credential = await broker.forCall('github', config(), who, { scopes: ['repo:comment'] });
    const token = (credential.headers.Authorization ?? '').replace(/^Bearer /, '');
    const claims = decodeJwt(token);
    expect(claims).toMatchObject({
      aud: API,
      sub: 'alice',
      scope: 'repo:comment',
      act: { sub: idp.gatewayClientId },
    });
    expect(credential.facts).toEqual({
      kind: 'token-exchange',
      audience: API,
      scopes: ['repo:comment'],
      actor_chain: { user: 'alice', client: 'agent', gateway: 'gw' },
    });

    // Cached per (session, upstream, audience, scopes), and gone with the session.
    const again = await broker.forCall('github', config(), who, { scopes: ['repo:comment'] });
    expect(again.headers.Authorization).toBe(credential.headers.Authorization);
    broker.dropSession('s1');
    const fresh = await broker.forCall('github', config(), who, { scopes: ['repo:comment'] });
    expect(fresh.headers.Authorization).not.toBe(credential.headers.Authorization);
  });

  it('refuses app-only callers and audiences the upstream is not configured for', async () => {
    const broker = new CredentialBroker('gw', silentLogger);
    const subjectToken = await idp.mintUserToken('oidc', { user: 'alice' });
    await expect(
      broker.forCall(
        'github',
        config(),
        { sessionId: 's', subjectToken, subject: 'svc', clientId: 'svc', tokenType: 'app' },
        undefined,
      ),
    ).rejects.toThrow(/app-only/);
    await expect(
      broker.forCall(
        'github',
        config(),
        { sessionId: 's', subjectToken, subject: 'alice', clientId: 'a', tokenType: 'user' },
        { audience: 'https://elsewhere.example' },
      ),
    ).rejects.toThrow(/configured for https:\/\/github.example\/api/);
  });
});

describe('CredentialBroker: static secrets', () => {
  const staticConfig = (path: string): CredentialConfig => ({
    type: 'static-secret',
    value: { kind: 'file', path },
    header: 'Authorization',
    format: 'Token {secret}',
    envVar: undefined,
  });
  const who = {
    sessionId: 's',
    subjectToken: '',
    subject: 'alice',
    clientId: 'a',
    tokenType: 'user' as const,
  };

  it('writes the secret verbatim, even with $ sequences, and re-reads it after rotation', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'mcpgate-secret-')), 'key');
    writeFileSync(file, 'ab$$cd$&ef$`x\n');
    const broker = new CredentialBroker('gw', silentLogger);
    expect((await broker.forCall('api', staticConfig(file), who, undefined)).headers).toEqual({
      Authorization: 'Token ab$$cd$&ef$`x',
    });
    writeFileSync(file, 'rotated');
    expect(
      (await broker.forCall('api', staticConfig(file), who, undefined)).headers.Authorization,
    ).toBe('Token rotated');
  });

  it('denies cleanly when the secret cannot be read, without naming where it lives', async () => {
    const broker = new CredentialBroker('gw', silentLogger);
    const err = await broker
      .forCall('api', staticConfig('/nonexistent/secret'), who, undefined)
      .catch((e: Error) => e);
    expect((err as Error).message).toBe(
      'the secret for upstream api cannot be read (see the gateway log)',
    );
  });

  it('refuses a per-call scope for a static secret instead of ignoring it', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'mcpgate-secret-')), 'key');
    writeFileSync(file, 'k');
    const broker = new CredentialBroker('gw', silentLogger);
    await expect(
      broker.forCall('api', staticConfig(file), who, { scopes: ['repo:read'] }),
    ).rejects.toThrow(/cannot be scoped per call/);
  });
});
