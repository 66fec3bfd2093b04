// Builds the policy input document (rego/schema/input.json is its contract). Only facts:
// no decision is taken here.
import type { Identity } from '../identity/identity.js';
import type { Session } from '../sessions/session.js';

export type PolicyAction =
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
  session: Session;
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
  session: {
    id: string;
    purpose: string;
    age_s: number;
    ttl_s?: number;
    history: Session['history'];
    counters: Session['counters'];
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

export function baseInput(
  action: PolicyAction,
  facts: RequestFacts,
  now = Date.now(),
): PolicyInput {
  const { session } = facts;
  const request: PolicyInput['request'] = {
    time_ns: now * 1_000_000,
    time: new Date(now).toISOString(),
    gateway: facts.gateway,
  };
  if (facts.protocolVersion !== undefined) request.protocol_version = facts.protocolVersion;
  if (session.clientInfo !== undefined) request.client = session.clientInfo;
  const sessionFacts: PolicyInput['session'] = {
    id: session.id,
    purpose: session.purpose,
    age_s: session.ageSeconds(now),
    history: session.history,
    counters: session.counters,
  };
  if (session.ttlSeconds !== undefined) sessionFacts.ttl_s = session.ttlSeconds;
  return { action, identity: facts.identity, session: sessionFacts, findings: [], request };
}
