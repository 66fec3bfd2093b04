// Signing keys of the dev IdP: RS256 private JWKs, current key first. Optionally persisted to
// a file (mode 0600) so a quickstart keeps its keys, and the tokens it minted, across restarts.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';

export type SigningJwk = JWK & { kid: string; kty: 'RSA'; alg: 'RS256'; use: 'sig' };

export async function generateSigningKey(): Promise<SigningJwk> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(jwk);
  return { ...jwk, kid, kty: 'RSA', alg: 'RS256', use: 'sig' };
}

function isSigningJwk(value: unknown): value is SigningJwk {
  if (typeof value !== 'object' || value === null) return false;
  const k = value as Record<string, unknown>;
  return (
    k.kty === 'RSA' &&
    typeof k.kid === 'string' &&
    k.kid !== '' &&
    typeof k.d === 'string' &&
    (k.alg === undefined || k.alg === 'RS256')
  );
}

function readKeyFile(file: string): SigningJwk[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`dev IdP key file ${file} is not readable JSON: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const keys = (parsed as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0 || !keys.every(isSigningJwk)) {
    throw new Error(`dev IdP key file ${file} must hold {"keys": [RSA private JWKs with kid]}`);
  }
  return keys.map((k) => ({ ...k, alg: 'RS256', use: 'sig' }));
}

export function saveKeys(file: string | undefined, keys: SigningJwk[]): void {
  if (file === undefined) return;
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify({ keys }, null, 2)}\n`, { mode: 0o600 });
}

/** The keys from `file` when it exists; otherwise one new key (written to `file` if given). */
export async function loadOrCreateKeys(file: string | undefined): Promise<SigningJwk[]> {
  if (file !== undefined && existsSync(file)) return readKeyFile(file);
  const keys = [await generateSigningKey()];
  saveKeys(file, keys);
  return keys;
}
