// Verified tokens, remembered until they expire, so a client that sends the same bearer
// token on every request pays for one signature check instead of one per request (the
// check is most of the gateway's per-request authentication cost).
//
// An entry is only as good as the keys that verified it: it names its issuer's key set and
// that set's generation, and is ignored once the set has changed (a key removed or rotated
// out) or while the set is older than its max-age (then the full verification runs, which
// is what refreshes the keys). It is never used at or past the token's exp. Keys are
// digests, so the cache holds no bearer token. Failures are never cached.
import type { GroupsOverageResolver } from './groups-overage.js';
import type { Identity } from './identity.js';
import type { KeySet } from './keys.js';
import { sha256Hex } from '../util/canonical-json.js';

export interface CachedVerification {
  identity: Identity;
  /** The payload's oid, which groups overage resolution needs per request. */
  oid: string;
  /** The issuer's overage resolver, when it has one. */
  overage: GroupsOverageResolver | undefined;
}

interface Entry extends CachedVerification {
  /** exp in ms: the entry is unusable from then on. */
  expiresAtMs: number;
  keys: KeySet;
  generation: number;
}

export class VerifiedTokenCache {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly maxEntries: number) {}

  static digest(token: string): string {
    return sha256Hex(token);
  }

  get size(): number {
    return this.entries.size;
  }

  get(digest: string, now: number): CachedVerification | undefined {
    const entry = this.entries.get(digest);
    if (!entry) return undefined;
    if (
      now >= entry.expiresAtMs ||
      entry.keys.generation !== entry.generation ||
      !entry.keys.isFresh(now)
    ) {
      this.entries.delete(digest);
      return undefined;
    }
    // Least recently used goes first: a hit moves the entry to the end of the map's order.
    this.entries.delete(digest);
    this.entries.set(digest, entry);
    return entry;
  }

  set(
    digest: string,
    value: CachedVerification,
    expSeconds: number,
    keys: KeySet,
    generation: number,
  ): void {
    if (this.maxEntries <= 0) return;
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(digest, {
      identity: deepFreeze(value.identity),
      oid: value.oid,
      overage: value.overage,
      expiresAtMs: expSeconds * 1000,
      keys,
      generation,
    });
  }

  clear(): void {
    this.entries.clear();
  }
}

/**
 * One identity object serves every request made with the token, so it is frozen: code
 * that tried to change it (and so every later request's identity) throws instead.
 */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
