// Entra groups overage: when a user is in too many groups the token carries a pointer
// (_claim_names/_claim_sources) instead of the list. Where configured, the gateway reads
// the membership from an endpoint (Graph, or a directory service of yours) and caches it;
// otherwise the identity keeps groups_overage: true with no groups and the policy decides.
import type { EntraIssuerConfig } from '../config/auth.js';
import { readValue } from '../config/secrets.js';
import type { Logger } from '../util/logger.js';

const TIMEOUT_MS = 5000;

interface MembershipPage {
  value?: Array<{ id?: unknown }>;
  groups?: unknown;
  '@odata.nextLink'?: unknown;
}

/**
 * Reads {"groups": [...]} or Graph-style {"value": [{"id"}], "@odata.nextLink"} to the last
 * page: a partial list would silently weaken any rule that denies by group.
 */
async function readAllPages(first: string, headers: Record<string, string>): Promise<string[]> {
  const groups: string[] = [];
  let url: string | undefined = first;
  for (let page = 0; url !== undefined; page++) {
    if (page >= 50) throw new Error('membership endpoint returned more than 50 pages');
    const response = await fetch(url, {
      headers,
      signal: AbortSignal.timeout(TIMEOUT_MS),
      redirect: 'error',
    });
    if (!response.ok) throw new Error(`membership endpoint answered HTTP ${response.status}`);
    const body = (await response.json()) as MembershipPage;
    if (Array.isArray(body.groups)) {
      groups.push(...body.groups.filter((g): g is string => typeof g === 'string'));
    } else if (Array.isArray(body.value)) {
      groups.push(...body.value.map((g) => g.id).filter((g): g is string => typeof g === 'string'));
    } else {
      throw new Error('membership endpoint answered neither {value: [...]} nor {groups: [...]}');
    }
    const next = body['@odata.nextLink'];
    url = typeof next === 'string' && next !== '' ? next : undefined;
  }
  return groups;
}

/** Users whose groups are remembered at once; past it the oldest entry is forgotten. */
const MAX_CACHED_USERS = 10_000;

export class GroupsOverageResolver {
  private readonly cache = new Map<string, { groups: string[]; until: number }>();

  constructor(
    private readonly config: NonNullable<EntraIssuerConfig['groupsOverage']>,
    private readonly logger: Logger,
  ) {}

  /** The user's groups, or undefined when they cannot be read (logged; the policy sees overage). */
  async resolve(tenant: string, oid: string): Promise<string[] | undefined> {
    const key = `${tenant}/${oid}`;
    const cached = this.cache.get(key);
    if (cached && cached.until > Date.now()) return cached.groups;
    const url = this.config.endpoint
      .replaceAll('{tid}', encodeURIComponent(tenant))
      .replaceAll('{oid}', encodeURIComponent(oid));
    try {
      const headers: Record<string, string> = { accept: 'application/json' };
      for (const [name, source] of Object.entries(this.config.headers)) {
        headers[name] = readValue(source, `groups_overage.headers.${name}`);
      }
      const groups = await readAllPages(url, headers);
      // Bounded: one entry per user, the oldest (or an expired one, re-added) goes first.
      this.cache.delete(key);
      if (this.cache.size >= MAX_CACHED_USERS) {
        const oldest = this.cache.keys().next();
        if (!oldest.done) this.cache.delete(oldest.value);
      }
      this.cache.set(key, { groups, until: Date.now() + this.config.cacheMs });
      return groups;
    } catch (err) {
      this.logger.warn(
        'groups overage not resolved; the policy sees groups_overage with no groups',
        {
          tenant,
          error: err instanceof Error ? err.message : String(err),
        },
      );
      return undefined;
    }
  }
}
