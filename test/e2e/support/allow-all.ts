// For a test file whose gateways allow every request: one test issuer for the whole file
// (started before its tests, closed after them) and the allow-all fixture bundle. Spread
// into a gateway's options: `startGatewayProcess({ ...allowAll, upstreams })`.
import { afterAll, beforeAll } from '@jest/globals';
import { startIssuer, type TestIssuer } from '../../support/issuer.js';
import { buildFixturePolicy } from './policies.js';

export interface AllowAll {
  issuer: TestIssuer;
  /** The compiled `allow-all` fixture policy. */
  bundle: string;
}

/** Registers the file's hooks: call it once, at the top level; read the parts in tests. */
export function useAllowAll(): AllowAll {
  const parts = {} as AllowAll;
  beforeAll(async () => {
    parts.issuer = await startIssuer();
    parts.bundle = buildFixturePolicy('allow-all');
  });
  afterAll(async () => {
    await parts.issuer?.close();
  });
  return parts;
}
