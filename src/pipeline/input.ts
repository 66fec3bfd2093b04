// Builds the policy input document (rego/schema/input.json is its contract). Only facts:
// no decision is taken here.
import type { Identity } from '../identity/identity.js';
import type { HistoryEntry } from '../sessions/session.js';
import type { LoadedSession } from '../sessions/store.js';

export type PolicyAction =
  | 'admin/sessions/list'
  | 'admin/sessions/show'
  | 'admin/sessions/kill'
  | 'session/open'
  | 'tools/call'
  | 'resources/read'
  | 'prompts/get'
  | 'tools/list'
  | 'resources/list'
  | 'resources/templates/list'
  | 'prompts/list';

export interface RequestFacts {
  identity: Identity;
  /** The session as read from the store at the start of this request. */
  session: LoadedSession;
  protocolVersion: string | undefined;
  gateway: { id: string; version: string };
}

export interface CatalogItemFact {
  kind: 'tool' | 'resource' | 'resource_template' | 'prompt';
  id: string;
  server: string;
  name?: string;
  uri?: string;
  annotations?: Record<string, unknown>;
}

export interface PolicyInput {
  action: PolicyAction;
  identity: Identity;
  /** Admin actions only: what the operator acts on. */
  admin?: { session_id?: string };
  /** Every action except admin ones. */
  session?: {
    id: string;
    purpose: string;
    age_s: number;
    ttl_s?: number;
    history: HistoryEntry[];
    /** calls, denied, and the current window count of each rate limit ("rate:<rule>"). */
    counters: Record<string, number>;
  };
  tool?: {
    server: string;
    name: string;
    id: string;
    annotations: Record<string, unknown>;
    definition_hash: string;
  };
  resource?: { server: string; uri: string; id: string };
  prompt?: { server: string; name: string; id: string };
  arguments?: Record<string, unknown>;
  catalog?: CatalogItemFact[];
  findings: unknown[];
  request: {
    time_ns: number;
    time: string;
    protocol_version?: string;
    client?: { name: string; version: string };
    gateway: { id: string; version: string };
  };
}

/** The input of every action that runs in a session (all but the admin ones). */
export type SessionInput = PolicyInput & { session: NonNullable<PolicyInput['session']> };

export function baseInput(
  action: PolicyAction,
  facts: RequestFacts,
  now = Date.now(),
): SessionInput {
  const { record, history, counters, rates } = facts.session;
  const request: PolicyInput['request'] = {
    time_ns: now * 1_000_000,
    time: new Date(now).toISOString(),
    gateway: facts.gateway,
  };
  if (facts.protocolVersion !== undefined) request.protocol_version = facts.protocolVersion;
  if (record.clientInfo !== null) request.client = record.clientInfo;
  const counterFacts: Record<string, number> = { calls: counters.calls, denied: counters.denied };
  for (const [rule, count] of Object.entries(rates)) counterFacts[`rate:${rule}`] = count;
  const sessionFacts: SessionInput['session'] = {
    id: record.id,
    purpose: record.purpose,
    age_s: Math.max(0, Math.floor((now - record.createdAt) / 1000)),
    history,
    counters: counterFacts,
  };
  if (record.expiresAt !== null)
    sessionFacts.ttl_s = Math.round((record.expiresAt - record.createdAt) / 1000);
  return { action, identity: facts.identity, session: sessionFacts, findings: [], request };
}
