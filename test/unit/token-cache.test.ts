// The verified-token cache on its own: an entry lives until the token's exp, while its key
// set is unchanged and fresh, and the cache stays within its bound.
import { describe, expect, it } from '@jest/globals';
import type { Identity } from '../../src/identity/identity.js';
import type { KeySet } from '../../src/identity/keys.js';
import { VerifiedTokenCache } from '../../src/identity/token-cache.js';

function keys(state: { generation: number; fresh: boolean }): KeySet {
  return {
    get generation() {
      return state.generation;
    },
    isFresh: () => state.fresh,
  } as unknown as KeySet;
}

const identity = { subject: 'alice' } as Identity;
const value = { identity, oid: '', overage: undefined };
const NOW = 1_700_000_000_000;
const EXP_S = NOW / 1000 + 60;

describe('VerifiedTokenCache', () => {
  it('keys on a digest, never on the token', () => {
    const digest = VerifiedTokenCache.digest('header.payload.signature');
    expect(digest).not.toContain('payload');
    expect(digest).toMatch(/^[0-9a-f]{64}$/);
  });

  it('answers until exp, and never at or after it', () => {
    const cache = new VerifiedTokenCache(10);
    cache.set('d', value, EXP_S, keys({ generation: 1, fresh: true }), 1);
    expect(cache.get('d', NOW)?.identity).toBe(identity);
    expect(cache.get('d', EXP_S * 1000)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('freezes the identity it shares between requests, claims and lists included', () => {
    const shared = {
      subject: 'bob',
      groups: ['engineering'],
      claims: { sub: 'bob', nested: { scp: ['mcp'] } },
    } as unknown as Identity;
    const cache = new VerifiedTokenCache(10);
    cache.set(
      'd',
      { identity: shared, oid: '', overage: undefined },
      EXP_S,
      keys({ generation: 1, fresh: true }),
      1,
    );
    const hit = cache.get('d', NOW)?.identity as Identity;
    expect(() => hit.groups.push('admins')).toThrow(TypeError);
    expect(() => {
      (hit.claims as Record<string, unknown>).sub = 'mallory';
    }).toThrow(TypeError);
    expect(() => {
      (hit.claims.nested as { scp: string[] }).scp[0] = 'admin';
    }).toThrow(TypeError);
    expect(hit.groups).toEqual(['engineering']);
  });

  it('drops an entry once its key set changed', () => {
    const state = { generation: 1, fresh: true };
    const cache = new VerifiedTokenCache(10);
    cache.set('d', value, EXP_S, keys(state), 1);
    state.generation = 2;
    expect(cache.get('d', NOW)).toBeUndefined();
  });

  it('does not answer while the key set is due for a refresh', () => {
    const state = { generation: 1, fresh: false };
    const cache = new VerifiedTokenCache(10);
    cache.set('d', value, EXP_S, keys(state), 1);
    expect(cache.get('d', NOW)).toBeUndefined();
  });

  it('keeps at most its bound, dropping the least recently used', () => {
    const k = keys({ generation: 1, fresh: true });
    const cache = new VerifiedTokenCache(2);
    cache.set('a', value, EXP_S, k, 1);
    cache.set('b', value, EXP_S, k, 1);
    cache.get('a', NOW);
    cache.set('c', value, EXP_S, k, 1);
    expect(cache.size).toBe(2);
    expect(cache.get('b', NOW)).toBeUndefined();
    expect(cache.get('a', NOW)).toBeDefined();
    expect(cache.get('c', NOW)).toBeDefined();
  });
});
